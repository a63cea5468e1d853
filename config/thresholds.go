package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/alerting"
	"go.yaml.in/yaml/v3"
)

// ThresholdOverride is a partial set of thresholds for a group or a
// device (nil fields keep the value from the level below), with the line
// it was read from for error messages.
type ThresholdOverride struct {
	alerting.ThresholdOverride
	Line int
}

// ThresholdsConfig is the `thresholds:` section.
type ThresholdsConfig struct {
	Defaults alerting.Thresholds
	Groups   map[string]ThresholdOverride // thresholds.groups.NAME
	Devices  map[string]ThresholdOverride // thresholds.devices.HOSTNAME
}

// AlertsConfig is the `alerts:` section.
type AlertsConfig struct {
	DedupWindow  time.Duration // alerts.dedup_window
	OfflineAfter int           // alerts.offline_after: failed polls in a row before Offline alerts
}

// MaintenanceWindow is one entry of `maintenance_windows:`. Every is a
// recurrence ("Sat 22:00 + 4h"); Start and End make a one-off window.
type MaintenanceWindow struct {
	Name          string
	Group, Device string
	Every         string
	Start, End    time.Time
	Line          int
}

// thresholdKey parses one threshold into an override (so defaults and
// overrides share one parser).
type thresholdKey struct {
	doc string
	set func(o *ThresholdOverride, v string) error
}

func pctKey(doc string, dst func(*ThresholdOverride) **float64) thresholdKey {
	return thresholdKey{doc: doc, set: func(o *ThresholdOverride, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 100 {
			return fmt.Errorf("%q is not a percentage 0..100", v)
		}
		*dst(o) = &f
		return nil
	}}
}

func durKey(doc string, lo, hi time.Duration, dst func(*ThresholdOverride) **time.Duration) thresholdKey {
	return thresholdKey{doc: doc, set: func(o *ThresholdOverride, v string) error {
		var d time.Duration
		if err := longDurationIn(v, lo, hi, &d); err != nil {
			return err
		}
		*dst(o) = &d
		return nil
	}}
}

var thresholdKeys = map[string]thresholdKey{
	"cpu_warning":        pctKey("CPU % busy that raises a Medium alert when sustained", func(o *ThresholdOverride) **float64 { return &o.CPUWarning }),
	"cpu_critical":       pctKey("CPU % busy that raises a Critical alert when sustained", func(o *ThresholdOverride) **float64 { return &o.CPUCritical }),
	"cpu_sustain":        durKey("how long CPU stays at a level before it alerts", 0, day, func(o *ThresholdOverride) **time.Duration { return &o.CPUSustain }),
	"memory_warning":     pctKey("memory % in use for a Medium alert", func(o *ThresholdOverride) **float64 { return &o.MemWarning }),
	"memory_critical":    pctKey("memory % in use for a Critical alert", func(o *ThresholdOverride) **float64 { return &o.MemCritical }),
	"memory_sustain":     durKey("how long memory stays at a level before it alerts", 0, day, func(o *ThresholdOverride) **time.Duration { return &o.MemSustain }),
	"disk_used_warning":  pctKey("% used of a fixed volume for a Medium alert (at once)", func(o *ThresholdOverride) **float64 { return &o.DiskWarning }),
	"disk_used_critical": pctKey("% used of a fixed volume for a Critical alert (at once)", func(o *ThresholdOverride) **float64 { return &o.DiskCritical }),
	"pending_reboot":     durKey("a reboot pending longer than this alerts", time.Hour, 365*day, func(o *ThresholdOverride) **time.Duration { return &o.PendingReboot }),
	"signature_age":      durKey("Defender signatures older than this alert", time.Hour, 365*day, func(o *ThresholdOverride) **time.Duration { return &o.SignatureAge }),
	"updates_max_age":    durKey("no update installed for longer is non-compliant (health score only)", day, 3650*day, func(o *ThresholdOverride) **time.Duration { return &o.UpdatesAge }),
}

// thresholdOrder lists the keys for docs and config show.
func thresholdOrder() []string {
	ks := make([]string, 0, len(thresholdKeys))
	for k := range thresholdKeys {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// parseOverride reads a mapping of threshold keys.
func parseOverride(file, key string, m *yaml.Node, ps *Problems) (ThresholdOverride, bool) {
	o := ThresholdOverride{Line: m.Line}
	if m.Kind != yaml.MappingNode {
		*ps = append(*ps, Problem{file, m.Line, key, "must be a mapping of threshold keys"})
		return o, false
	}
	ok := true
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		name := key + "." + k.Value
		if k.Value == "watched_services" {
			list, good := stringList(file, name, v, ps)
			o.WatchedServices, ok = list, ok && good
			continue
		}
		tk, known := thresholdKeys[k.Value]
		if !known {
			*ps = append(*ps, Problem{file, k.Line, name, "unknown threshold (valid: " + strings.Join(append(thresholdOrder(), "watched_services"), ", ") + ")"})
			ok = false
			continue
		}
		if v.Kind != yaml.ScalarNode {
			*ps = append(*ps, Problem{file, v.Line, name, "must be a single value"})
			ok = false
			continue
		}
		if err := tk.set(&o, v.Value); err != nil {
			*ps = append(*ps, Problem{file, v.Line, name, err.Error()})
			ok = false
		}
	}
	return o, ok
}

func stringList(file, key string, v *yaml.Node, ps *Problems) ([]string, bool) {
	if v.Kind != yaml.SequenceNode {
		*ps = append(*ps, Problem{file, v.Line, key, "must be a list, e.g. [Spooler, W32Time]"})
		return nil, false
	}
	out := []string{}
	for _, n := range v.Content {
		if n.Kind != yaml.ScalarNode || strings.TrimSpace(n.Value) == "" {
			*ps = append(*ps, Problem{file, n.Line, key, "list entries must be non-empty names"})
			return nil, false
		}
		out = append(out, strings.TrimSpace(n.Value))
	}
	return out, true
}

// parseThresholds reads the whole `thresholds:` section.
func parseThresholds(file, key string, v *yaml.Node, c *Config, ps *Problems) {
	if v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.MappingNode {
		*ps = append(*ps, Problem{file, v.Line, key, "must be a mapping"})
		return
	}
	var top yaml.Node
	top.Kind = yaml.MappingNode
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		switch k.Value {
		case "groups", "devices":
			if val.Kind != yaml.MappingNode {
				*ps = append(*ps, Problem{file, val.Line, key + "." + k.Value, "must be a mapping of NAME: {thresholds}"})
				continue
			}
			out := map[string]ThresholdOverride{}
			for j := 0; j+1 < len(val.Content); j += 2 {
				name := val.Content[j].Value
				if o, ok := parseOverride(file, key+"."+k.Value+"."+name, val.Content[j+1], ps); ok {
					out[name] = o
				}
			}
			if k.Value == "groups" {
				c.Thresholds.Groups = out
			} else {
				c.Thresholds.Devices = out
			}
		default:
			top.Content = append(top.Content, k, val)
		}
	}
	if o, ok := parseOverride(file, key, &top, ps); ok {
		c.Thresholds.Defaults = o.Apply(c.Thresholds.Defaults)
	}
}

// parseWindows reads `maintenance_windows:`.
func parseWindows(file, key string, v *yaml.Node, c *Config, ps *Problems) {
	if v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.SequenceNode {
		*ps = append(*ps, Problem{file, v.Line, key, "must be a list of {name, group|device, every | start, end}"})
		return
	}
	var out []MaintenanceWindow
	for i, item := range v.Content {
		k := fmt.Sprintf("%s[%d]", key, i)
		if item.Kind != yaml.MappingNode {
			*ps = append(*ps, Problem{file, item.Line, k, "must be a mapping {name, group|device, every | start, end}"})
			continue
		}
		w := MaintenanceWindow{Line: item.Line}
		ok := true
		for j := 0; j+1 < len(item.Content); j += 2 {
			fk, fv := item.Content[j], item.Content[j+1]
			switch fk.Value {
			case "name":
				w.Name = fv.Value
			case "group":
				w.Group = fv.Value
			case "device":
				w.Device = fv.Value
			case "every":
				w.Every = fv.Value
			case "start", "end":
				t, err := time.Parse(time.RFC3339, fv.Value)
				if err != nil {
					*ps = append(*ps, Problem{file, fv.Line, k + "." + fk.Value, fmt.Sprintf("%q is not an RFC 3339 time (2026-12-24T18:00:00+01:00)", fv.Value)})
					ok = false
					continue
				}
				if fk.Value == "start" {
					w.Start = t
				} else {
					w.End = t
				}
			default:
				*ps = append(*ps, Problem{file, fk.Line, k + "." + fk.Value, "unknown key (valid: name, group, device, every, start, end)"})
				ok = false
			}
		}
		switch {
		case !ok:
		case (w.Group == "") == (w.Device == ""):
			*ps = append(*ps, Problem{file, item.Line, k, "needs exactly one of group or device"})
		case (w.Every == "") == (w.Start.IsZero() && w.End.IsZero()):
			*ps = append(*ps, Problem{file, item.Line, k, "needs either every (Sat 22:00 + 4h) or start and end"})
		case w.Every == "" && (w.Start.IsZero() || !w.End.After(w.Start)):
			*ps = append(*ps, Problem{file, item.Line, k, "end must be after start"})
		default:
			out = append(out, w)
		}
	}
	c.Maintenance = out
}
