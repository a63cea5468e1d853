package creds

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Scope says which devices a credential may be sent to. It is stored with
// the credential (keyring item, vault record), never in the database, so
// whoever may edit devices cannot widen it.
//
// Each part that is set must hold; within a part, one match is enough:
//
//   - Sites: the device's site is one of these.
//   - Groups: the device is in at least one of these groups.
//   - Hosts: the device's name matches one of these patterns (* for any
//     run of characters, ? for one). A pattern with a dot is matched
//     against the whole name, one without against its first label, so
//     "DC*" matches DC01 and dc01.contoso.com alike.
//   - Domain: the device's name is in this DNS domain (dc01.contoso.com is
//     in contoso.com; a bare host name is in no domain).
//
// "The device's name" is the name rmm proves on HTTPS: the certificate
// must hold it (its FQDN when the device has one, else its hostname). All
// comparisons ignore case. The zero Scope allows every device.
type Scope struct {
	Sites  []string `json:"sites,omitempty"`
	Groups []string `json:"groups,omitempty"`
	Hosts  []string `json:"hosts,omitempty"`
	Domain string   `json:"domain,omitempty"`
}

// ScopeTarget is a device as a Scope sees it.
type ScopeTarget struct {
	Name   string // the name rmm verifies: the device's FQDN when known, else its hostname
	Site   string
	Groups []string
}

// IsZero reports whether s allows every device.
func (s Scope) IsZero() bool {
	return len(s.Sites) == 0 && len(s.Groups) == 0 && len(s.Hosts) == 0 && s.Domain == ""
}

// String is the scope as `rmm creds set --scope` takes it, e.g.
// "site=hq,branch host=DC* domain=contoso.com", or "any device".
func (s Scope) String() string {
	if s.IsZero() {
		return "any device"
	}
	var parts []string
	if len(s.Sites) > 0 {
		parts = append(parts, "site="+strings.Join(s.Sites, ","))
	}
	if len(s.Groups) > 0 {
		parts = append(parts, "group="+strings.Join(s.Groups, ","))
	}
	if len(s.Hosts) > 0 {
		parts = append(parts, "host="+strings.Join(s.Hosts, ","))
	}
	if s.Domain != "" {
		parts = append(parts, "domain="+s.Domain)
	}
	return strings.Join(parts, " ")
}

// ErrOutOfScope is wrapped by Allows' refusal.
var ErrOutOfScope = errors.New("outside the credential's scope")

// Allows returns nil when the credential may be sent to t, else an error
// wrapping ErrOutOfScope that says which part of the scope t misses.
func (s Scope) Allows(t ScopeTarget) error {
	if len(s.Sites) > 0 && !slices.ContainsFunc(s.Sites, func(v string) bool { return strings.EqualFold(v, t.Site) }) {
		return fmt.Errorf("%w: site %q is not one of %s", ErrOutOfScope, t.Site, strings.Join(s.Sites, ", "))
	}
	if len(s.Groups) > 0 && !slices.ContainsFunc(s.Groups, func(g string) bool {
		return slices.ContainsFunc(t.Groups, func(v string) bool { return strings.EqualFold(g, v) })
	}) {
		return fmt.Errorf("%w: the device is in none of the groups %s", ErrOutOfScope, strings.Join(s.Groups, ", "))
	}
	name := strings.ToLower(strings.TrimSuffix(t.Name, "."))
	if len(s.Hosts) > 0 && !slices.ContainsFunc(s.Hosts, func(p string) bool { return hostMatch(p, name) }) {
		return fmt.Errorf("%w: name %q matches none of %s", ErrOutOfScope, t.Name, strings.Join(s.Hosts, ", "))
	}
	if s.Domain != "" {
		d := strings.ToLower(strings.Trim(s.Domain, "."))
		if !strings.HasSuffix(name, "."+d) {
			return fmt.Errorf("%w: name %q is not in domain %s", ErrOutOfScope, t.Name, s.Domain)
		}
	}
	return nil
}

// hostMatch matches a host pattern against a lower-case name: the whole
// name when the pattern has a dot, else the name's first label.
func hostMatch(pattern, name string) bool {
	pattern = strings.ToLower(strings.TrimSuffix(pattern, "."))
	if !strings.Contains(pattern, ".") {
		name, _, _ = strings.Cut(name, ".")
	}
	return globMatch(pattern, name)
}

// globMatch reports whether s matches pattern, where * matches any run
// of characters (none included) and ? exactly one. Nothing else is
// special. It runs in O(len(pattern)*len(s)) at worst.
func globMatch(pattern, s string) bool {
	p, n := []rune(pattern), []rune(s)
	pi, ni := 0, 0
	star, mark := -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// maxScopeItems bounds each part of a scope (it travels in a keyring
// item, which Windows caps at 2560 bytes).
const maxScopeItems = 32

// ParseScope reads `--scope` values: each is KEY=VALUE[,VALUE...] with KEY
// site, group, host or domain (one domain). Values repeat across items.
// Errors name the item.
func ParseScope(items []string) (Scope, error) {
	var s Scope
	for _, item := range items {
		key, val, ok := strings.Cut(item, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		if !ok || strings.TrimSpace(val) == "" {
			return Scope{}, fmt.Errorf("scope %q: want KEY=VALUE with KEY site, group, host or domain", item)
		}
		var vals []string
		for v := range strings.SplitSeq(val, ",") {
			if v = strings.TrimSpace(v); v != "" {
				vals = append(vals, v)
			}
		}
		switch key {
		case "site", "sites":
			s.Sites = append(s.Sites, vals...)
		case "group", "groups":
			s.Groups = append(s.Groups, vals...)
		case "host", "hosts":
			s.Hosts = append(s.Hosts, vals...)
		case "domain":
			if len(vals) != 1 || s.Domain != "" {
				return Scope{}, fmt.Errorf("scope %q: one domain only", item)
			}
			s.Domain = vals[0]
		default:
			return Scope{}, fmt.Errorf("scope %q: unknown key %q (want site, group, host or domain)", item, key)
		}
	}
	return s.normalize()
}

// normalize checks s and returns it with duplicates removed (compared
// without case) and each list sorted, as stored.
func (s Scope) normalize() (Scope, error) {
	clean := func(what string, vals []string, check func(string) error) ([]string, error) {
		if len(vals) > maxScopeItems {
			return nil, fmt.Errorf("scope: %d %ss, at most %d", len(vals), what, maxScopeItems)
		}
		var out []string
		for _, v := range vals {
			if err := check(v); err != nil {
				return nil, fmt.Errorf("scope %s %q: %w", what, v, err)
			}
			if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, v) }) {
				out = append(out, v)
			}
		}
		slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
		return out, nil
	}
	var err error
	if s.Sites, err = clean("site", s.Sites, printableName); err != nil {
		return Scope{}, err
	}
	if s.Groups, err = clean("group", s.Groups, printableName); err != nil {
		return Scope{}, err
	}
	if s.Hosts, err = clean("host", s.Hosts, hostPattern); err != nil {
		return Scope{}, err
	}
	if s.Domain != "" {
		if err := hostPattern(s.Domain); err != nil || strings.ContainsAny(s.Domain, "*?") || strings.Trim(s.Domain, ".") == "" {
			return Scope{}, fmt.Errorf("scope domain %q: not a DNS domain such as contoso.com", s.Domain)
		}
		s.Domain = strings.Trim(s.Domain, ".")
	}
	return s, nil
}

// printableName checks a site or group name: printable ASCII or any
// letter, at most 128 bytes.
func printableName(v string) error {
	if len(v) > 128 {
		return fmt.Errorf("%d bytes, at most 128", len(v))
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return errors.New("holds a control character")
		}
	}
	return nil
}

// hostPattern checks a host pattern or a domain: DNS characters and the
// wildcards * and ?, at most 253 bytes.
func hostPattern(v string) error {
	if len(v) > 253 {
		return fmt.Errorf("%d bytes, at most 253", len(v))
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '*' || r == '?') {
			return fmt.Errorf("%q is not allowed (letters, digits, - _ . and the wildcards * ?)", r)
		}
	}
	return nil
}
