package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/filter"
	"go.yaml.in/yaml/v3"
)

// PatchesConfig is the `patches:` section: the approval policy and the
// timings of install jobs. The engine reads it as engine.PatchOptions
// (cmd maps it) and checks it again.
type PatchesConfig struct {
	DeferralDays     int           // patches.deferral_days: rules approve this many days after release
	MaxRounds        int           // patches.max_rounds: install, restart, scan again, at most this often
	Reboot           string        // patches.reboot: window or never
	PollInterval     time.Duration // patches.poll_interval
	StartTimeout     time.Duration // patches.task_start_timeout
	InstallTimeout   time.Duration // patches.install_timeout
	RebootTimeout    time.Duration // patches.reboot_timeout
	ServicingTimeout time.Duration // patches.servicing_timeout
	ScanTimeout      time.Duration // patches.scan_timeout
	Dir              string        // patches.dir: where the installer goes on the host
	Deny             []string      // patches.deny: KBs never installed
	Rings            []PatchRing   // patches.rings
	Rules            []PatchRule   // patches.auto_approve
}

// PatchRing is one entry of patches.rings.
type PatchRing struct {
	Name        string
	Devices     string // a filter: site:, group:, tag:, os:, host:, text; "" or "*": the devices no ring before took
	After       string
	SuccessRate float64
	MinDevices  int
	Soak        time.Duration
	ApproveRole string // operator (default) or admin
	Line        int
}

// PatchRule is one entry of patches.auto_approve.
type PatchRule struct {
	Name            string
	Classifications []string
	Severities      []string
	Rings           []string
	DeferralDays    *int
	Line            int
}

// defaultPatches is the section's defaults.
func defaultPatches() PatchesConfig {
	return PatchesConfig{DeferralDays: 7, MaxRounds: 3, Reboot: "window", PollInterval: 30 * time.Second,
		StartTimeout: 5 * time.Minute, InstallTimeout: 4 * time.Hour, RebootTimeout: 30 * time.Minute,
		ServicingTimeout: 30 * time.Minute, ScanTimeout: 10 * time.Minute, Dir: `C:\ProgramData\rmm\patch`}
}

// patchClassifications are the update classifications (their English
// names, as engine/scripts knows them); patchSeverities the MSRC
// severities and "none".
var (
	patchClassifications = []string{"Critical Updates", "Security Updates", "Definition Updates", "Update Rollups", "Updates",
		"Feature Packs", "Service Packs", "Tools", "Drivers", "Upgrades"}
	patchSeverities = []string{"Critical", "Important", "Moderate", "Low", "none"}
)

// patchFields are the scalar keys of patches:.
var patchFields = map[string]field{
	"patches.deferral_days": {def: "7", doc: "approval rules approve an update this many days after its release, 0..365 (a rule's own deferral_days wins)",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 0, 365, &c.Patches.DeferralDays) },
		show: func(c Config) string { return strconv.Itoa(c.Patches.DeferralDays) }},
	"patches.max_rounds": {def: "3", doc: "install rounds per job (install, restart, scan again), 1..10",
		set:  func(c *Config, v string, _ Dirs) error { return intIn(v, 1, 10, &c.Patches.MaxRounds) },
		show: func(c Config) string { return strconv.Itoa(c.Patches.MaxRounds) }},
	"patches.reboot": {def: "window", doc: "window: a restart an install needs waits for the device's maintenance window; never: it is left pending",
		set: func(c *Config, v string, _ Dirs) error {
			return oneOf(v, []string{"window", "never"}, &c.Patches.Reboot)
		},
		show: func(c Config) string { return c.Patches.Reboot }},
	"patches.poll_interval": {def: "30s", doc: "how often a running install job reads its host, 1s..10m",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, time.Second, 10*time.Minute, &c.Patches.PollInterval)
		},
		show: func(c Config) string { return c.Patches.PollInterval.String() }},
	"patches.task_start_timeout": {def: "5m", doc: "an install task that has not started after this fails its job (and is removed), 30s..2h",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, 30*time.Second, 2*time.Hour, &c.Patches.StartTimeout)
		},
		show: func(c Config) string { return c.Patches.StartTimeout.String() }},
	"patches.install_timeout": {def: "4h", doc: "an install task still running after this is stopped, 10m..24h",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, 10*time.Minute, 24*time.Hour, &c.Patches.InstallTimeout)
		},
		show: func(c Config) string { return c.Patches.InstallTimeout.String() }},
	"patches.reboot_timeout": {def: "30m", doc: "a host not answering this long (after a restart, or while installing) fails its job, 1m..24h",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, time.Minute, 24*time.Hour, &c.Patches.RebootTimeout)
		},
		show: func(c Config) string { return c.Patches.RebootTimeout.String() }},
	"patches.servicing_timeout": {def: "30m", doc: "after a restart, the longest wait for Component Based Servicing to settle before scanning anyway, 1m..24h",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, time.Minute, 24*time.Hour, &c.Patches.ServicingTimeout)
		},
		show: func(c Config) string { return c.Patches.ServicingTimeout.String() }},
	"patches.scan_timeout": {def: "10m", doc: "deadline of one Windows Update search, 30s..1h",
		set: func(c *Config, v string, _ Dirs) error {
			return durationIn(v, 30*time.Second, time.Hour, &c.Patches.ScanTimeout)
		},
		show: func(c Config) string { return c.Patches.ScanTimeout.String() }},
	"patches.dir": {def: `C:\ProgramData\rmm\patch`, doc: "where the installer and its progress file go on the host (an absolute Windows path; only SYSTEM and Administrators may write there)",
		set: func(c *Config, v string, _ Dirs) error {
			v = strings.TrimRight(strings.TrimSpace(v), `\`)
			if len(v) < 4 || v[1] != ':' || v[2] != '\\' || strings.ContainsAny(v, `/"<>|?*'`) {
				return fmt.Errorf("%q is not an absolute Windows path (C:\\ProgramData\\rmm\\patch)", v)
			}
			c.Patches.Dir = v
			return nil
		},
		show: func(c Config) string { return c.Patches.Dir }},
	"patches.deny": {def: "(none)", doc: "KBs never approved or installed, e.g. [KB5034441]",
		show: func(c Config) string { return strings.Join(c.Patches.Deny, ", ") }},
	"patches.rings": {def: "(one ring: all)", doc: "[{name, devices: FILTER, after: RING, success_rate: 95, min_devices: 1, soak: 72h, approve_role: operator|admin}]: who gets updates first",
		show: func(c Config) string { return showRings(c.Patches.Rings) }},
	"patches.auto_approve": {def: "(none)", doc: "[{name, classifications: [...], severities: [...], rings: [...], deferral_days: N}]: approval rules",
		show: func(c Config) string { return fmt.Sprintf("%d rules", len(c.Patches.Rules)) }},
}

func showRings(rs []PatchRing) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.Name
		if r.After != "" {
			parts[i] += " (after " + r.After + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// parsePatchDeny reads patches.deny: a list of KBs (or one value with
// commas).
func parsePatchDeny(file, key string, v *yaml.Node, c *Config, ps *Problems) {
	items, line, ok := patchList(file, key, v, ps, "a list of KBs, e.g. [KB5034441]")
	if !ok {
		return
	}
	var out []string
	for _, it := range items {
		kb := strings.ToUpper(strings.TrimSpace(it))
		if kb != "" && kb[0] >= '0' && kb[0] <= '9' {
			kb = "KB" + kb
		}
		if !validKB(kb) {
			*ps = append(*ps, Problem{file, line, key, fmt.Sprintf("%q is not a KB number (KB5034441)", it)})
			return
		}
		out = append(out, kb)
	}
	c.Patches.Deny = out
}

func validKB(s string) bool {
	if len(s) < 3 || !strings.HasPrefix(s, "KB") {
		return false
	}
	for _, c := range s[2:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// patchList reads a list of scalars, or one scalar with commas.
func patchList(file, key string, v *yaml.Node, ps *Problems, want string) ([]string, int, bool) {
	switch {
	case v.Tag == "!!null":
		return nil, v.Line, true
	case v.Kind == yaml.ScalarNode:
		var out []string
		for _, s := range strings.Split(v.Value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, v.Line, true
	case v.Kind == yaml.SequenceNode:
		var out []string
		for _, n := range v.Content {
			if n.Kind != yaml.ScalarNode {
				*ps = append(*ps, Problem{file, n.Line, key, "must be " + want})
				return nil, v.Line, false
			}
			out = append(out, strings.TrimSpace(n.Value))
		}
		return out, v.Line, true
	}
	*ps = append(*ps, Problem{file, v.Line, key, "must be " + want})
	return nil, v.Line, false
}

// checkRingSelector checks a ring's devices filter: the filter grammar
// over the fields that do not change from poll to poll
// (filter.ParseStatic).
func checkRingSelector(s string) error {
	_, err := filter.ParseStatic(s)
	var fe *filter.Error
	if errors.As(err, &fe) && strings.HasPrefix(fe.Msg, "selects by ") {
		return fmt.Errorf("term %q: a ring selects by %s or text (status, metrics and inventory change from poll to poll)", fe.Term,
			strings.Join(filter.StaticFields, ", "))
	}
	return err
}

// parsePatchRings reads patches.rings.
func parsePatchRings(file, key string, v *yaml.Node, c *Config, ps *Problems) {
	if v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.SequenceNode {
		*ps = append(*ps, Problem{file, v.Line, key, "must be a list of {name, devices, after, success_rate, min_devices, soak, approve_role}"})
		return
	}
	var out []PatchRing
	seen := map[string]int{}
	for i, item := range v.Content {
		k := fmt.Sprintf("%s[%d]", key, i)
		if item.Kind != yaml.MappingNode {
			*ps = append(*ps, Problem{file, item.Line, k, "must be a mapping {name, devices, ...}"})
			continue
		}
		r := PatchRing{Line: item.Line, ApproveRole: "operator"}
		ok := true
		bad := func(n *yaml.Node, sub, msg string) {
			*ps = append(*ps, Problem{file, n.Line, k + "." + sub, msg})
			ok = false
		}
		for j := 0; j+1 < len(item.Content); j += 2 {
			fk, fv := item.Content[j], item.Content[j+1]
			if fv.Kind != yaml.ScalarNode {
				bad(fv, fk.Value, "must be a single value")
				continue
			}
			val := strings.TrimSpace(fv.Value)
			switch fk.Value {
			case "name":
				r.Name = val
				if val == "" || val == "*" || strings.ContainsAny(val, " \t,") {
					bad(fv, "name", "a ring needs a name without spaces or commas (and not *)")
				}
			case "devices":
				r.Devices = val
				if err := checkRingSelector(val); err != nil {
					bad(fv, "devices", err.Error())
				}
			case "after":
				r.After = val
			case "success_rate":
				f, err := strconv.ParseFloat(strings.TrimSuffix(val, "%"), 64)
				if err != nil || f < 0 || f > 100 {
					bad(fv, "success_rate", fmt.Sprintf("%q is not a percentage 0..100", val))
				}
				r.SuccessRate = f
			case "min_devices":
				if err := intIn(val, 1, 100000, &r.MinDevices); err != nil {
					bad(fv, "min_devices", err.Error())
				}
			case "soak":
				if err := longDurationIn(val, 0, 90*day, &r.Soak); err != nil {
					bad(fv, "soak", err.Error())
				}
			case "approve_role":
				if err := oneOf(strings.ToLower(val), []string{"operator", "admin"}, &r.ApproveRole); err != nil {
					bad(fv, "approve_role", err.Error())
				}
			default:
				bad(fk, fk.Value, "unknown key (valid: name, devices, after, success_rate, min_devices, soak, approve_role)")
			}
		}
		if !ok {
			continue
		}
		if r.Name == "" {
			*ps = append(*ps, Problem{file, item.Line, k + ".name", "missing"})
			continue
		}
		if first, dup := seen[strings.ToLower(r.Name)]; dup {
			*ps = append(*ps, Problem{file, item.Line, k + ".name", fmt.Sprintf("%q is used twice (first on line %d)", r.Name, first)})
			continue
		}
		if r.After != "" && !slices.ContainsFunc(out, func(p PatchRing) bool { return strings.EqualFold(p.Name, r.After) }) {
			*ps = append(*ps, Problem{file, item.Line, k + ".after", fmt.Sprintf("%q is not a ring listed before %s", r.After, r.Name)})
			continue
		}
		seen[strings.ToLower(r.Name)] = item.Line
		out = append(out, r)
	}
	c.Patches.Rings = out
}

// parsePatchRules reads patches.auto_approve.
func parsePatchRules(file, key string, v *yaml.Node, c *Config, ps *Problems) {
	if v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.SequenceNode {
		*ps = append(*ps, Problem{file, v.Line, key, "must be a list of {name, classifications, severities, rings, deferral_days}"})
		return
	}
	var out []PatchRule
	for i, item := range v.Content {
		k := fmt.Sprintf("%s[%d]", key, i)
		if item.Kind != yaml.MappingNode {
			*ps = append(*ps, Problem{file, item.Line, k, "must be a mapping {name, classifications, ...}"})
			continue
		}
		r := PatchRule{Line: item.Line}
		ok := true
		for j := 0; j+1 < len(item.Content); j += 2 {
			fk, fv := item.Content[j], item.Content[j+1]
			sub := k + "." + fk.Value
			list := func(allowed []string) []string {
				items, _, fine := patchList(file, sub, fv, ps, "a list")
				if !fine {
					ok = false
					return nil
				}
				var got []string
				for _, it := range items {
					i := slices.IndexFunc(allowed, func(a string) bool { return strings.EqualFold(a, it) })
					if i < 0 {
						*ps = append(*ps, Problem{file, fv.Line, sub, fmt.Sprintf("%q is not one of %s", it, strings.Join(allowed, ", "))})
						ok = false
						continue
					}
					got = append(got, allowed[i])
				}
				return got
			}
			switch fk.Value {
			case "name":
				r.Name = strings.TrimSpace(fv.Value)
			case "classifications":
				r.Classifications = list(patchClassifications)
			case "severities":
				r.Severities = list(patchSeverities)
			case "rings":
				items, _, fine := patchList(file, sub, fv, ps, "a list of ring names")
				ok = ok && fine
				r.Rings = items
			case "deferral_days":
				var n int
				if err := intIn(fv.Value, 0, 365, &n); err != nil {
					*ps = append(*ps, Problem{file, fv.Line, sub, err.Error()})
					ok = false
					continue
				}
				r.DeferralDays = &n
			default:
				*ps = append(*ps, Problem{file, fk.Line, sub, "unknown key (valid: name, classifications, severities, rings, deferral_days)"})
				ok = false
			}
		}
		if !ok {
			continue
		}
		if r.Name == "" {
			*ps = append(*ps, Problem{file, item.Line, k + ".name", "missing"})
			continue
		}
		out = append(out, r)
	}
	c.Patches.Rules = out
}

// validatePatches checks what needs the whole section: the rings a rule
// names exist.
func validatePatches(file string, root *yaml.Node, c *Config, ps *Problems) {
	for i, r := range c.Patches.Rules {
		for _, name := range r.Rings {
			known := slices.ContainsFunc(c.Patches.Rings, func(g PatchRing) bool { return strings.EqualFold(g.Name, name) }) ||
				len(c.Patches.Rings) == 0 && strings.EqualFold(name, "all")
			if !known {
				*ps = append(*ps, Problem{File: file, Line: r.Line, Key: fmt.Sprintf("patches.auto_approve[%d].rings", i),
					Msg: fmt.Sprintf("ring %q is not in patches.rings", name)})
			}
		}
	}
	_ = root
}
