package cmd

import (
	"fmt"
	"time"

	"github.com/rmmhq/rmm/config"
	"github.com/rmmhq/rmm/engine"
)

// alertOptions maps the thresholds, alerts, health and
// maintenance_windows sections of c onto the engine's alert options. It
// reads nothing but its arguments, so a config reload can check a
// candidate config without making it the one in effect. file is the
// config file, for the errors.
func alertOptions(c config.Config, file string) (engine.AlertOptions, error) {
	loc := time.Local
	if tz := c.Schedules.TimeZone; tz != "" && tz != "Local" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return engine.AlertOptions{}, fmt.Errorf("schedules.timezone: %w", err)
		}
		loc = l
	}
	set := engine.ThresholdSet{
		Defaults: thresholdsOf(c.Thresholds.Defaults),
		Groups:   map[string]engine.ThresholdOverride{},
		Devices:  map[string]engine.ThresholdOverride{},
	}
	for name, o := range c.Thresholds.Groups {
		set.Groups[name] = overrideOf(o)
	}
	for name, o := range c.Thresholds.Devices {
		set.Devices[name] = overrideOf(o)
	}
	opts := engine.AlertOptions{
		Thresholds:   set,
		DedupWindow:  c.Alerts.DedupWindow,
		OfflineAfter: c.Alerts.OfflineAfter,
		Weights: engine.HealthWeights{Availability: c.Health.Availability, Performance: c.Health.Performance,
			Security: c.Health.Security, Compliance: c.Health.Compliance},
	}
	for i, w := range c.Maintenance {
		mw := engine.MaintenanceWindow{Name: w.Name, Group: w.Group, Device: w.Device, Start: w.Start, End: w.End}
		if w.Every != "" {
			r, err := engine.ParseRecurrence(w.Every, loc)
			if err != nil {
				return opts, exitError{2, fmt.Errorf("%s:%d: maintenance_windows[%d].every: %w", file, w.Line, i, err)}
			}
			mw.Every = &r
		}
		opts.Maintenance = append(opts.Maintenance, mw)
	}
	return opts, nil
}

func thresholdsOf(v config.ThresholdValues) engine.Thresholds {
	return engine.Thresholds{
		CPUWarning: v.CPUWarning, CPUCritical: v.CPUCritical, CPUSustain: v.CPUSustain,
		MemWarning: v.MemWarning, MemCritical: v.MemCritical, MemSustain: v.MemSustain,
		DiskWarning: v.DiskWarning, DiskCritical: v.DiskCritical,
		PendingReboot: v.PendingReboot, SignatureAge: v.SignatureAge, UpdatesAge: v.UpdatesAge,
		WatchedServices: v.WatchedServices,
	}
}

func overrideOf(o config.ThresholdOverride) engine.ThresholdOverride {
	return engine.ThresholdOverride{
		CPUWarning: o.CPUWarning, CPUCritical: o.CPUCritical, CPUSustain: o.CPUSustain,
		MemWarning: o.MemWarning, MemCritical: o.MemCritical, MemSustain: o.MemSustain,
		DiskWarning: o.DiskWarning, DiskCritical: o.DiskCritical,
		PendingReboot: o.PendingReboot, SignatureAge: o.SignatureAge, UpdatesAge: o.UpdatesAge,
		WatchedServices: o.WatchedServices,
	}
}
