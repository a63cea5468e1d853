package engine

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Reliability report F3: the service and process-kill actions pass their
// name to Get-Service -Name and Get-Process -Name, which take wildcards,
// so name=* restarted every service on a host (without a confirmation).
// A name holding a wildcard character is now refused unless the caller
// asks for a pattern (pattern=true). Such a run changes nothing: each
// host answers what the pattern matches there. The caller then confirms
// those names (matches=NAME,...), and only names both matched and
// confirmed are touched, after a confirmation like any destructive run.

// patternParam and matchesParam are the two parameters of the actions
// whose name takes wildcards.
var patternParam = ParamSpec{Name: "pattern", Type: "bool", Default: "false",
	Help: "true: name is a wildcard pattern (* ? [ ]); without matches the run only lists what it matches"}

func matchesParam(what string) ParamSpec {
	return ParamSpec{Name: "matches", Type: "string",
		Help: "with pattern=true: the " + what + " you confirm, comma-separated (from the listing run); only these are changed"}
}

// hasWildcard reports whether s holds a character PowerShell's
// WildcardPattern would treat as a wildcard (ContainsWildcardCharacters:
// * ? [ and ], unless escaped with a backtick).
func hasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '`':
			i++
		case '*', '?', '[', ']':
			return true
		}
	}
	return false
}

func isTrue(v string) bool {
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// checkWildcards checks the name, pattern and matches of an action whose
// name takes wildcards (params with defaults filled).
func checkWildcards(p map[string]string) error {
	name := p["name"]
	if !isTrue(p["pattern"]) {
		if hasWildcard(name) {
			return fmt.Errorf("param name: %q holds a wildcard character (* ? [ ]): the host would act on everything it matches; "+
				"to mean a pattern add pattern=true: that run lists the matches and changes nothing, then confirm them with matches=NAME,...", name)
		}
		if strings.TrimSpace(p["matches"]) != "" {
			return fmt.Errorf("param matches: only with pattern=true")
		}
		return nil
	}
	if name == "" {
		return fmt.Errorf("param pattern: needs a name pattern")
	}
	for m := range strings.SplitSeq(p["matches"], ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if hasWildcard(m) {
			return fmt.Errorf("param matches: %q is a pattern; confirm names, as the listing run answered them", m)
		}
		if !wildcardMatch(name, m) {
			return fmt.Errorf("param matches: %q does not match the pattern %q", m, name)
		}
	}
	return nil
}

// wildcardMatch reports whether s matches a PowerShell wildcard pattern as
// Get-Service and Get-Process match -Name: case-insensitive; * any run,
// ? one character, [abc] and [a-z] one of a set, ` escapes the next
// character. It runs in O(len(pattern)*len(s)): a failed (pi, ni) is not
// tried twice.
func wildcardMatch(pattern, s string) bool {
	p, n := []rune(pattern), []rune(s)
	failed := map[[2]int]bool{}
	var match func(pi, ni int) bool
	match = func(pi, ni int) bool {
		if failed[[2]int{pi, ni}] {
			return false
		}
		ok := matchFrom(p, n, pi, ni, match)
		if !ok {
			failed[[2]int{pi, ni}] = true
		}
		return ok
	}
	return match(0, 0)
}

// matchFrom matches p[pi:] against n[ni:], calling match for what
// follows a star.
func matchFrom(p, n []rune, pi, ni int, match func(pi, ni int) bool) bool {
	for pi < len(p) {
		switch p[pi] {
		case '*':
			for pi < len(p) && p[pi] == '*' {
				pi++
			}
			if pi == len(p) {
				return true
			}
			for k := ni; k <= len(n); k++ {
				if match(pi, k) {
					return true
				}
			}
			return false
		case '?':
			if ni >= len(n) {
				return false
			}
			pi, ni = pi+1, ni+1
		case '[':
			end := pi + 1
			for end < len(p) && p[end] != ']' {
				end++
			}
			if end >= len(p) || ni >= len(n) {
				return false // an unclosed [ matches nothing (WildcardPattern: an invalid pattern)
			}
			if !inSet(p[pi+1:end], n[ni]) {
				return false
			}
			pi, ni = end+1, ni+1
		case '`':
			if pi+1 < len(p) {
				pi++
			}
			fallthrough
		default:
			if ni >= len(n) || unicode.ToLower(p[pi]) != unicode.ToLower(n[ni]) {
				return false
			}
			pi, ni = pi+1, ni+1
		}
	}
	return ni == len(n)
}

// inSet reports whether r is in a [...] set: characters and ranges a-z,
// without regard to case.
func inSet(set []rune, r rune) bool {
	r = unicode.ToLower(r)
	for i := 0; i < len(set); i++ {
		lo := unicode.ToLower(set[i])
		if i+2 < len(set) && set[i+1] == '-' {
			hi := unicode.ToLower(set[i+2])
			if lo <= r && r <= hi {
				return true
			}
			i += 2
			continue
		}
		if lo == r {
			return true
		}
	}
	return false
}
