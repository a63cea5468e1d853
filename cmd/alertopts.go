package cmd

import (
	"fmt"
	"slices"
	"time"

	"github.com/rmmhq/rmm/config"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/alerting"
)

// patchOptions maps the patches section of c onto the engine's patch
// options, and checks them as the engine will (file names the config for
// the errors).
func patchOptions(c config.Config, file string) (engine.PatchOptions, error) {
	p := c.Patches
	o := engine.PatchOptions{DeferralDays: p.DeferralDays, MaxRounds: p.MaxRounds, Reboot: p.Reboot, PollInterval: p.PollInterval,
		StartTimeout: p.StartTimeout, InstallTimeout: p.InstallTimeout, RebootTimeout: p.RebootTimeout,
		ServicingTimeout: p.ServicingTimeout, ScanTimeout: p.ScanTimeout, QueueExpiry: c.Actions.QueueExpiry, Dir: p.Dir,
		Deny: slices.Clone(p.Deny)}
	if o.DeferralDays == 0 {
		o.DeferralDays = -1 // the config's 0 is none; the engine's zero is its default
	}
	for _, r := range p.Rings {
		role := engine.RoleOperator
		if r.ApproveRole == "admin" {
			role = engine.RoleAdmin
		}
		o.Rings = append(o.Rings, engine.PatchRing{Name: r.Name, Devices: r.Devices, After: r.After, SuccessRate: r.SuccessRate,
			MinDevices: r.MinDevices, Soak: r.Soak, ApproveRole: role})
	}
	for _, r := range p.Rules {
		o.Rules = append(o.Rules, engine.PatchRule{Name: r.Name, Classifications: r.Classifications, Severities: r.Severities,
			Rings: r.Rings, DeferralDays: r.DeferralDays})
	}
	if err := engine.CheckPatchOptions(o); err != nil {
		return o, exitError{2, fmt.Errorf("%s: %w", file, err)}
	}
	return o, nil
}

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
	set := alerting.ThresholdSet{
		Defaults: c.Thresholds.Defaults,
		Groups:   make(map[string]alerting.ThresholdOverride, len(c.Thresholds.Groups)),
		Devices:  make(map[string]alerting.ThresholdOverride, len(c.Thresholds.Devices)),
	}
	for name, o := range c.Thresholds.Groups {
		set.Groups[name] = o.ThresholdOverride
	}
	for name, o := range c.Thresholds.Devices {
		set.Devices[name] = o.ThresholdOverride
	}
	opts := engine.AlertOptions{
		Thresholds:   set,
		DedupWindow:  c.Alerts.DedupWindow,
		OfflineAfter: c.Alerts.OfflineAfter,
		Weights:      c.Health,
	}
	for i, w := range c.Maintenance {
		mw := alerting.MaintenanceWindow{Name: w.Name, Group: w.Group, Device: w.Device, Start: w.Start, End: w.End}
		if w.Every != "" {
			r, err := alerting.ParseRecurrence(w.Every, loc)
			if err != nil {
				return opts, exitError{2, fmt.Errorf("%s:%d: maintenance_windows[%d].every: %w", file, w.Line, i, err)}
			}
			mw.Every = &r
		}
		opts.Maintenance = append(opts.Maintenance, mw)
	}
	return opts, nil
}
