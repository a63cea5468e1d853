package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rmmhq/rmm/engine/alerting"
)

// The checks below are the engine's own (engine/alerting's Validate and
// ParseRecurrence), run when the file is parsed, so that rmm config check
// refuses exactly what every command refuses (reliability F10: an
// inverted threshold pair and a maintenance window on "Funday 25:99"
// passed the check and then stopped every other command).

// alertingKeys maps engine/alerting's field names to the threshold keys
// of the config file.
var alertingKeys = map[string]string{
	"cpu.warning": "cpu_warning", "cpu.critical": "cpu_critical", "cpu.sustain": "cpu_sustain",
	"memory.warning": "memory_warning", "memory.critical": "memory_critical", "memory.sustain": "memory_sustain",
	"disk.warning": "disk_used_warning", "disk.critical": "disk_used_critical",
	"pending_reboot": "pending_reboot", "defender.signature_age": "signature_age", "updates.max_age": "updates_max_age",
}

// configWords rewrites alerting's field names in a message as the
// config file spells them.
func configWords(s string) string {
	pairs := make([]string, 0, 2*len(alertingKeys))
	for a, c := range alertingKeys {
		pairs = append(pairs, a, c)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// validateAlerting adds a problem for every threshold set (defaults, and
// each group's and device's over them) and maintenance window the engine
// would refuse.
func validateAlerting(file string, root *yaml.Node, c *Config, ps *Problems) {
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
	thresholds := valueOf(root, "thresholds")
	for _, err := range unjoin(set.Validate()) {
		var se *alerting.SettingError
		if !errors.As(err, &se) {
			*ps = append(*ps, Problem{File: file, Line: lineOf(root, "thresholds"), Key: "thresholds", Msg: err.Error()})
			continue
		}
		scope, field, found := strings.Cut(se.Field, ": ")
		if !found {
			scope, field = "defaults", se.Field
		}
		name := field
		if k, ok := alertingKeys[field]; ok {
			name = k
		}
		key, line := "thresholds."+name, lineOf(root, "thresholds")
		switch {
		case scope == "defaults":
			if l := lineOf(thresholds, name); l > 0 {
				line = l
			}
		case strings.HasPrefix(scope, "groups."), strings.HasPrefix(scope, "devices."):
			kind, who, _ := strings.Cut(scope, ".")
			key = "thresholds." + scope + "." + name
			o := c.Thresholds.Groups[who]
			if kind == "devices" {
				o = c.Thresholds.Devices[who]
			}
			if o.Line > 0 {
				line = o.Line
			}
		}
		*ps = append(*ps, Problem{File: file, Line: line, Key: key, Msg: configWords(se.Problem)})
	}

	loc := time.Local
	if tz := c.Schedules.TimeZone; tz != "" && tz != "Local" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return // reported by schedules.timezone
		}
		loc = l
	}
	for i, w := range c.Maintenance {
		key := fmt.Sprintf("maintenance_windows[%d]", i)
		mw := alerting.MaintenanceWindow{Name: w.Name, Group: w.Group, Device: w.Device, Start: w.Start, End: w.End}
		if w.Every != "" {
			r, err := alerting.ParseRecurrence(w.Every, loc)
			if err != nil {
				*ps = append(*ps, Problem{File: file, Line: w.Line, Key: key + ".every", Msg: err.Error()})
				continue
			}
			mw.Every = &r
		}
		if err := mw.Validate(); err != nil {
			*ps = append(*ps, Problem{File: file, Line: w.Line, Key: key, Msg: err.Error()})
		}
	}
}

// unjoin splits an errors.Join into its errors.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// valueOf is the value node of a key of a mapping node, or nil.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
