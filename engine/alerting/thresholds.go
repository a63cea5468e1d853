package alerting

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Thresholds are the limits one device is judged by, for alerts and for
// the performance, security and compliance parts of its health score.
type Thresholds struct {
	CPUWarning  float64       // cpu.warning: % busy (default 80)
	CPUCritical float64       // cpu.critical: % busy (default 95)
	CPUSustain  time.Duration // cpu.sustain: how long CPU stays at a level before it alerts (default 5m)
	MemWarning  float64       // memory.warning: % in use (default 80)
	MemCritical float64       // memory.critical: % in use (default 95)
	MemSustain  time.Duration // memory.sustain (default 5m)
	// Disk levels are % USED of each fixed volume (100 - the free % the
	// metrics script reports), judged at once, without a sustain.
	DiskWarning   float64       // disk.warning (default 80)
	DiskCritical  float64       // disk.critical (default 90)
	PendingReboot time.Duration // pending_reboot: a reboot pending longer than this alerts (default 7 days)
	SignatureAge  time.Duration // defender.signature_age: older Defender signatures alert (default 3 days)
	UpdatesAge    time.Duration // updates.max_age: no update installed for longer is non-compliant (default 30 days; score only)
	// Watched services must be running (services.watched); names compare
	// case-insensitively, as Windows does.
	WatchedServices []string
}

const oneDay = 24 * time.Hour

// DefaultThresholds returns the seed thresholds.
func DefaultThresholds() Thresholds {
	return Thresholds{
		CPUWarning: 80, CPUCritical: 95, CPUSustain: 5 * time.Minute,
		MemWarning: 80, MemCritical: 95, MemSustain: 5 * time.Minute,
		DiskWarning: 80, DiskCritical: 90,
		PendingReboot: 7 * oneDay, SignatureAge: 3 * oneDay, UpdatesAge: 30 * oneDay,
	}
}

// ThresholdOverride changes some thresholds for a group or a device. A
// nil field keeps the value from below (defaults, then the group); a nil
// WatchedServices keeps the list, an empty non-nil one clears it.
type ThresholdOverride struct {
	CPUWarning      *float64
	CPUCritical     *float64
	CPUSustain      *time.Duration
	MemWarning      *float64
	MemCritical     *float64
	MemSustain      *time.Duration
	DiskWarning     *float64
	DiskCritical    *float64
	PendingReboot   *time.Duration
	SignatureAge    *time.Duration
	UpdatesAge      *time.Duration
	WatchedServices []string
}

// Apply returns t with the values o sets.
func (o ThresholdOverride) Apply(t Thresholds) Thresholds {
	setF := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	setD := func(dst *time.Duration, v *time.Duration) {
		if v != nil {
			*dst = *v
		}
	}
	setF(&t.CPUWarning, o.CPUWarning)
	setF(&t.CPUCritical, o.CPUCritical)
	setD(&t.CPUSustain, o.CPUSustain)
	setF(&t.MemWarning, o.MemWarning)
	setF(&t.MemCritical, o.MemCritical)
	setD(&t.MemSustain, o.MemSustain)
	setF(&t.DiskWarning, o.DiskWarning)
	setF(&t.DiskCritical, o.DiskCritical)
	setD(&t.PendingReboot, o.PendingReboot)
	setD(&t.SignatureAge, o.SignatureAge)
	setD(&t.UpdatesAge, o.UpdatesAge)
	if o.WatchedServices != nil {
		t.WatchedServices = o.WatchedServices
	}
	return t
}

// ThresholdSet is the thresholds of a fleet: defaults, overrides per group
// and per device (keys compare case-insensitively).
type ThresholdSet struct {
	Defaults Thresholds
	Groups   map[string]ThresholdOverride // group name -> override
	Devices  map[string]ThresholdOverride // hostname -> override
}

// DefaultThresholdSet is the seed defaults without overrides.
func DefaultThresholdSet() ThresholdSet { return ThresholdSet{Defaults: DefaultThresholds()} }

// For returns the thresholds of a device: the defaults, changed by the
// override of the first of its groups (in the order given) that has one,
// changed by the device's own override. The device wins.
func (s ThresholdSet) For(hostname string, groups []string) Thresholds {
	t := s.Defaults
	for _, g := range groups {
		if o, ok := lookupFold(s.Groups, g); ok {
			t = o.Apply(t)
			break
		}
	}
	if o, ok := lookupFold(s.Devices, hostname); ok {
		t = o.Apply(t)
	}
	return t
}

func lookupFold(m map[string]ThresholdOverride, name string) (ThresholdOverride, bool) {
	if o, ok := m[name]; ok {
		return o, true
	}
	for k, o := range m {
		if strings.EqualFold(k, name) {
			return o, true
		}
	}
	return ThresholdOverride{}, false
}

// SettingError is one invalid setting, named by its field (e.g.
// "groups.servers: cpu.warning"); config maps it to its file and line.
type SettingError struct {
	Field   string
	Problem string
}

// Error reads "field: problem".
func (e *SettingError) Error() string { return e.Field + ": " + e.Problem }

// Validate checks the defaults and what every override makes of them (a
// group's, and a device's over the defaults). Every problem is reported,
// joined, each a *SettingError naming its field.
func (s ThresholdSet) Validate() error {
	var errs []error
	errs = append(errs, s.Defaults.problems("defaults")...)
	for _, name := range sortedKeys(s.Groups) {
		if strings.TrimSpace(name) == "" {
			errs = append(errs, &SettingError{Field: "groups", Problem: "empty group name"})
			continue
		}
		errs = append(errs, s.Groups[name].Apply(s.Defaults).problems("groups."+name)...)
	}
	for _, name := range sortedKeys(s.Devices) {
		if strings.TrimSpace(name) == "" {
			errs = append(errs, &SettingError{Field: "devices", Problem: "empty hostname"})
			continue
		}
		errs = append(errs, s.Devices[name].Apply(s.Defaults).problems("devices."+name)...)
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]ThresholdOverride) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Validate checks one set of thresholds.
func (t Thresholds) Validate() error { return errors.Join(t.problems("")...) }

func (t Thresholds) problems(prefix string) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		if prefix != "" {
			field = prefix + ": " + field
		}
		errs = append(errs, &SettingError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	pair := func(name string, warn, crit float64) {
		switch {
		case warn <= 0 || warn > 100:
			bad(name+".warning", "%v is out of range: want more than 0, at most 100", warn)
		case crit <= 0 || crit > 100:
			bad(name+".critical", "%v is out of range: want more than 0, at most 100", crit)
		case warn > crit:
			bad(name+".warning", "%v is above %s.critical %v", warn, name, crit)
		}
	}
	pair("cpu", t.CPUWarning, t.CPUCritical)
	pair("memory", t.MemWarning, t.MemCritical)
	pair("disk", t.DiskWarning, t.DiskCritical)
	for _, d := range []struct {
		name     string
		v        time.Duration
		min, max time.Duration
	}{
		{"cpu.sustain", t.CPUSustain, 0, oneDay},
		{"memory.sustain", t.MemSustain, 0, oneDay},
		{"pending_reboot", t.PendingReboot, time.Hour, 365 * oneDay},
		{"defender.signature_age", t.SignatureAge, time.Hour, 365 * oneDay},
		{"updates.max_age", t.UpdatesAge, oneDay, 365 * oneDay},
	} {
		if d.v < d.min || d.v > d.max {
			bad(d.name, "%s is out of range %s..%s", d.v, d.min, d.max)
		}
	}
	for i, s := range t.WatchedServices {
		if strings.TrimSpace(s) == "" {
			bad(fmt.Sprintf("services.watched[%d]", i), "empty service name")
		}
	}
	return errs
}
