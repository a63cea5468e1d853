package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/rmmhq/rmm/engine/filter"
)

// specials parse keys whose values are lists or maps, not scalars.
var specials = map[string]func(file, key string, v *yaml.Node, c *Config, ps *Problems){
	"users":               parseUsers,
	"ui.views":            parseViews,
	"ui.keys":             parseKeys,
	"thresholds":          parseThresholds,
	"maintenance_windows": parseWindows,
	"sessions.loop_off":   parseLoopOff,

	"notifications.channels": parseChannels,
	"notifications.routes":   parseRoutes,
	"schedules.reports":      parseScheduledReports,
	"collections":            parseCollections,

	"patches.deny":         parsePatchDeny,
	"patches.rings":        parsePatchRings,
	"patches.auto_approve": parsePatchRules,
}

// parseLoopOff reads sessions.loop_off: a list, or one comma-separated
// value.
func parseLoopOff(file, key string, v *yaml.Node, c *Config, ps *Problems) {
	var items []string
	switch {
	case v.Tag == "!!null":
	case v.Kind == yaml.ScalarNode:
		items = strings.Split(v.Value, ",")
	case v.Kind == yaml.SequenceNode:
		for _, n := range v.Content {
			if n.Kind != yaml.ScalarNode {
				*ps = append(*ps, Problem{file, n.Line, key, "list entries must be hostnames, tag:NAME, site:NAME or *"})
				return
			}
			items = append(items, n.Value)
		}
	default:
		*ps = append(*ps, Problem{file, v.Line, key, "must be a list, e.g. [SRV-0042, tag:edr-strict]"})
		return
	}
	list, err := loopOffList(items)
	if err != nil {
		*ps = append(*ps, Problem{file, v.Line, key, err.Error()})
		return
	}
	c.Sessions.LoopOff = list
}

func parseUsers(file, key string, v *yaml.Node, c *Config, ps *Problems) {
	add := func(line int, k, msg string) { *ps = append(*ps, Problem{file, line, k, msg}) }
	if v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.SequenceNode {
		add(v.Line, key, "must be a list of {name, role, keys}")
		return
	}
	seen := map[string]int{}
	var users []User
	for i, item := range v.Content {
		k := fmt.Sprintf("users[%d]", i)
		if item.Kind != yaml.MappingNode {
			add(item.Line, k, "must be a mapping {name, role, keys}")
			continue
		}
		u := User{Line: item.Line}
		ok := true
		for j := 0; j+1 < len(item.Content); j += 2 {
			fk, fv := item.Content[j], item.Content[j+1]
			switch fk.Value {
			case "name":
				u.Name = strings.TrimSpace(fv.Value)
				if fv.Kind != yaml.ScalarNode || u.Name == "" {
					add(fv.Line, k+".name", "must be a non-empty name")
					ok = false
				}
			case "role":
				switch strings.ToLower(fv.Value) {
				case "admin", "operator", "viewer":
					u.Role = strings.ToLower(fv.Value)
				default:
					add(fv.Line, k+".role", fmt.Sprintf("%q is not one of admin, operator, viewer", fv.Value))
					ok = false
				}
			case "keys":
				if fv.Kind != yaml.SequenceNode {
					add(fv.Line, k+".keys", "must be a list of SSH public keys")
					ok = false
					continue
				}
				for n, kn := range fv.Content {
					if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(kn.Value)); err != nil {
						add(kn.Line, fmt.Sprintf("%s.keys[%d]", k, n), "not an SSH public key in authorized_keys format (ssh-ed25519 AAAA... comment)")
						ok = false
						continue
					}
					u.Keys = append(u.Keys, strings.TrimSpace(kn.Value))
				}
			default:
				add(fk.Line, k+"."+fk.Value, "unknown key (valid: name, role, keys)")
				ok = false
			}
		}
		if u.Name == "" && ok {
			add(item.Line, k+".name", "missing")
			ok = false
		}
		if u.Role == "" && ok {
			add(item.Line, k+".role", "missing (admin, operator or viewer)")
			ok = false
		}
		if first, dup := seen[strings.ToLower(u.Name)]; dup && u.Name != "" {
			add(item.Line, k+".name", fmt.Sprintf("%q is listed twice (first on line %d)", u.Name, first))
			ok = false
		}
		seen[strings.ToLower(u.Name)] = item.Line
		if ok {
			users = append(users, u)
		}
	}
	c.Users = users
}

func parseViews(file, key string, v *yaml.Node, c *Config, ps *Problems) {
	if v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.MappingNode {
		*ps = append(*ps, Problem{file, v.Line, key, "must be a mapping of name: filter expression"})
		return
	}
	views := map[string]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if val.Kind != yaml.ScalarNode || strings.TrimSpace(val.Value) == "" {
			*ps = append(*ps, Problem{file, val.Line, key + "." + k.Value, "must be a filter expression, e.g. \"site:hq status:offline\""})
			continue
		}
		views[k.Value] = val.Value
	}
	c.UI.Views = views
}

// parseCollections reads collections: name -> filter expression. A name
// is 1..64 printable characters; the expression must parse (the error
// names its term).
func parseCollections(file, key string, v *yaml.Node, c *Config, ps *Problems) {
	if v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.MappingNode {
		*ps = append(*ps, Problem{file, v.Line, key, "must be a mapping of name: filter expression"})
		return
	}
	out := map[string]string{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		name := k.Value
		full := key + "." + name
		switch {
		case name == "" || len(name) > 64 || strings.TrimSpace(name) != name || strings.HasPrefix(name, "-") || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
			*ps = append(*ps, Problem{file, k.Line, full, "a collection name is 1..64 printable characters, without a space at either end or a leading '-'"})
			continue
		case seen[strings.ToLower(name)]:
			*ps = append(*ps, Problem{file, k.Line, full, "defined twice (names ignore case)"})
			continue
		case val.Kind != yaml.ScalarNode || strings.TrimSpace(val.Value) == "":
			*ps = append(*ps, Problem{file, val.Line, full, "must be a filter expression, e.g. \"software:zoom software.version<5.17\""})
			continue
		}
		f, err := filter.Parse(val.Value)
		if err != nil {
			*ps = append(*ps, Problem{file, val.Line, full, err.Error()})
			continue
		}
		if _, _, sorted := f.Sort(); sorted {
			*ps = append(*ps, Problem{file, val.Line, full, "a sort: term selects nothing; leave it out"})
			continue
		}
		seen[strings.ToLower(name)] = true
		out[name] = val.Value
	}
	c.Collections = out
}

func parseKeys(file, key string, v *yaml.Node, c *Config, ps *Problems) {
	if v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.MappingNode {
		*ps = append(*ps, Problem{file, v.Line, key, "must be a mapping of action: [keys]"})
		return
	}
	keys := map[string][]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		var list []string
		switch val.Kind {
		case yaml.ScalarNode:
			list = []string{val.Value}
		case yaml.SequenceNode:
			for _, n := range val.Content {
				if n.Kind == yaml.ScalarNode && n.Value != "" {
					list = append(list, n.Value)
				}
			}
		}
		if len(list) == 0 {
			*ps = append(*ps, Problem{file, val.Line, key + "." + k.Value, "must be a key or a list of keys, e.g. [\"/\", \"f\"]"})
			continue
		}
		keys[k.Value] = list
	}
	c.UI.Keys = keys
}
