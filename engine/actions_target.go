package engine

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Target selection for runs. The console's filter grammar lives in the ui
// package, which imports the engine; this is the compatible subset an
// engine-side caller (the CLI, the SSH console) needs: terms separated by
// spaces, all of which a device must match.
//
//	web            free text: substring of hostname, site, status, OS, a tag
//	host:web       substring of the hostname (host=web: exactly)
//	site:lon       substring of the site (site=London: exactly)
//	status:off     status starting with off (status=offline: exactly)
//	os:2016        substring of the OS name or version
//	tag:sql        a tag equal to sql (tag:sql*: starting with sql)
//	group:fin      a group, like tag:
//	cpu>80 mem>=90 disk<10   latest metrics compared (<, <=, >, >=, =)
//	!tag:prod -status:online  ! or - negates a term
//	"new york"     quotes keep spaces and make a term plain text

type selTerm struct {
	field  string // "", host, site, status, os, tag, group, cpu, mem, disk
	neg    bool
	exact  bool
	prefix bool
	op     string
	num    float64
	text   string
}

// parseSelection reads a filter expression.
func parseSelection(expr string) ([]selTerm, error) {
	var terms []selTerm
	for _, raw := range splitTerms(expr) {
		t := selTerm{}
		s := raw
		if strings.HasPrefix(s, "!") || strings.HasPrefix(s, "-") && len(s) > 1 {
			t.neg, s = true, s[1:]
		}
		if strings.HasPrefix(s, `"`) {
			t.text = strings.Trim(s, `"`)
			terms = append(terms, t)
			continue
		}
		s = strings.ReplaceAll(s, `"`, "")
		if i := strings.IndexAny(s, ":=<>"); i > 0 {
			name := strings.ToLower(s[:i])
			rest := s[i:]
			switch name {
			case "host", "site", "status", "os", "tag", "group":
				t.field = name
				t.exact = rest[0] == '='
				if rest[0] != ':' && rest[0] != '=' {
					return nil, fmt.Errorf("filter term %s: %s takes : or =", raw, name)
				}
				t.text = rest[1:]
				if (name == "tag" || name == "group") && strings.HasSuffix(t.text, "*") {
					t.prefix, t.text = true, strings.TrimSuffix(t.text, "*")
				}
				if t.text == "" {
					return nil, fmt.Errorf("filter term %s: no value", raw)
				}
			case "cpu", "mem", "memory", "disk":
				t.field = strings.TrimSuffix(name, "ory")
				op := rest[:1]
				if len(rest) > 1 && rest[1] == '=' {
					op = rest[:2]
				}
				if op == ":" {
					return nil, fmt.Errorf("filter term %s: compare with <, <=, >, >= or =", raw)
				}
				n, err := strconv.ParseFloat(rest[len(op):], 64)
				if err != nil {
					return nil, fmt.Errorf("filter term %s: %q is not a number", raw, rest[len(op):])
				}
				t.op, t.num = op, n
			default:
				return nil, fmt.Errorf("filter term %s: unknown field %q (want host, site, status, os, tag, group, cpu, mem, disk)", raw, name)
			}
			terms = append(terms, t)
			continue
		}
		t.text = s
		terms = append(terms, t)
	}
	return terms, nil
}

// splitTerms splits on spaces outside double quotes.
func splitTerms(s string) []string {
	var out []string
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '"':
			in = !in
			b.WriteRune(r)
		case (r == ' ' || r == '\t') && !in:
			if b.Len() > 0 {
				out = append(out, b.String())
				b.Reset()
			}
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func (t selTerm) match(d *DeviceState) bool {
	text := func(s string, contains func(a, b string) bool) bool {
		if t.exact {
			return strings.EqualFold(s, t.text)
		}
		return contains(s, t.text)
	}
	label := func(ls []string) bool {
		for _, l := range ls {
			if t.prefix && len(l) >= len(t.text) && strings.EqualFold(l[:len(t.text)], t.text) ||
				!t.prefix && strings.EqualFold(l, t.text) {
				return true
			}
		}
		return false
	}
	switch t.field {
	case "":
		if containsFold(d.Hostname, t.text) || containsFold(d.Site, t.text) || containsFold(string(d.Status), t.text) ||
			containsFold(strings.TrimPrefix(d.OSName, "Microsoft Windows "), t.text) || containsFold(d.OSVersion, t.text) {
			return true
		}
		for _, tag := range d.Tags {
			if containsFold(tag, t.text) {
				return true
			}
		}
		return false
	case "host":
		return text(d.Hostname, containsFold)
	case "site":
		return text(d.Site, containsFold)
	case "status":
		return text(string(d.Status), func(a, b string) bool { return strings.HasPrefix(strings.ToLower(a), strings.ToLower(b)) })
	case "os":
		return text(d.OSName, containsFold) || text(d.OSVersion, containsFold)
	case "tag":
		return label(d.Tags)
	case "group":
		return label(d.Groups)
	}
	if !d.HasMetrics {
		return false
	}
	v := map[string]float64{"cpu": d.CPUPct, "mem": d.MemPct, "disk": d.DiskFreePct}[t.field]
	switch t.op {
	case "<":
		return v < t.num
	case "<=":
		return v <= t.num
	case ">":
		return v > t.num
	case ">=":
		return v >= t.num
	}
	return v == t.num
}

// ErrNoTargets is returned when a run target selects no device.
var ErrNoTargets = errors.New("no device matches")

// resolveTarget returns the devices a target picks, by hostname.
func (e *Engine) resolveTarget(t RunTarget) ([]DeviceState, error) {
	set := 0
	for _, b := range []bool{len(t.DeviceIDs) > 0, len(t.Hosts) > 0, t.Site != "", t.Group != "", t.Filter != ""} {
		if b {
			set++
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("target: set exactly one of devices, hosts, site, group, filter (%d set)", set)
	}
	all := e.Devices()
	var out []DeviceState
	switch {
	case len(t.DeviceIDs) > 0:
		byID := make(map[int64]DeviceState, len(all))
		for _, d := range all {
			byID[d.ID] = d
		}
		for _, id := range t.DeviceIDs {
			d, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("target: device %d: %w", id, ErrNoTargets)
			}
			out = append(out, d)
		}
	case len(t.Hosts) > 0:
		byName := make(map[string]DeviceState, len(all))
		for _, d := range all {
			byName[strings.ToLower(d.Hostname)] = d
		}
		for _, h := range t.Hosts {
			d, ok := byName[strings.ToLower(strings.TrimSpace(h))]
			if !ok {
				return nil, fmt.Errorf("target: host %s: %w (rmm devices lists them)", h, ErrNoTargets)
			}
			out = append(out, d)
		}
	case t.Site != "":
		for _, d := range all {
			if strings.EqualFold(d.Site, t.Site) {
				out = append(out, d)
			}
		}
	case t.Group != "":
		for _, d := range all {
			if slices.ContainsFunc(d.Groups, func(g string) bool { return strings.EqualFold(g, t.Group) }) ||
				slices.ContainsFunc(d.Tags, func(g string) bool { return strings.EqualFold(g, t.Group) }) {
				out = append(out, d)
			}
		}
	default:
		terms, err := parseSelection(t.Filter)
		if err != nil {
			return nil, badInput(fmt.Errorf("target: %w", err))
		}
		for i := range all {
			ok := true
			for _, term := range terms {
				if term.match(&all[i]) == term.neg {
					ok = false
					break
				}
			}
			if ok {
				out = append(out, all[i])
			}
		}
	}
	slices.SortFunc(out, func(a, b DeviceState) int { return cmp.Compare(a.Hostname, b.Hostname) })
	out = slices.CompactFunc(out, func(a, b DeviceState) bool { return a.ID == b.ID })
	if len(out) == 0 {
		return nil, fmt.Errorf("target %s: %w", t, ErrNoTargets)
	}
	return out, nil
}
