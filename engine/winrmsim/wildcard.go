package winrmsim

import (
	"fmt"
	"strings"
	"unicode"
)

// PowerShell's WildcardPattern, as Get-Service -Name and Get-Process
// -Name use it: without regard to case, * for any run, ? for one
// character, [abc] and [a-z] for one of a set, and ` to escape the next
// character. On Windows, `Get-Service -Name *` returns every service: the
// simulator matches the same way.

// containsWildcard is WildcardPattern.ContainsWildcardCharacters.
func containsWildcard(s string) bool {
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

// wildcardMatch reports whether s matches pattern.
func wildcardMatch(pattern, s string) bool {
	p, n := []rune(pattern), []rune(s)
	// dp[j]: p[:i] matches n[:j], row by row over the pattern's elements.
	dp := make([]bool, len(n)+1)
	dp[0] = true
	for i := 0; i < len(p); {
		next := make([]bool, len(n)+1)
		switch c := p[i]; {
		case c == '*':
			seen := false
			for j := 0; j <= len(n); j++ {
				seen = seen || dp[j]
				next[j] = seen
			}
			i++
		case c == '[':
			end := i + 1
			for end < len(p) && p[end] != ']' {
				end++
			}
			if end >= len(p) {
				return false // an invalid pattern matches nothing
			}
			set := p[i+1 : end]
			for j := 1; j <= len(n); j++ {
				next[j] = dp[j-1] && inRuneSet(set, n[j-1])
			}
			i = end + 1
		default:
			anyOne := c == '?'
			if c == '`' && i+1 < len(p) {
				i++
				c = p[i] // escaped: itself, even * ? [
			}
			for j := 1; j <= len(n); j++ {
				next[j] = dp[j-1] && (anyOne || unicode.ToLower(c) == unicode.ToLower(n[j-1]))
			}
			i++
		}
		dp = next
	}
	return dp[len(n)]
}

// inRuneSet reports whether r is in a [...] set's body, without case.
func inRuneSet(set []rune, r rune) bool {
	r = unicode.ToLower(r)
	for i := 0; i < len(set); i++ {
		lo := unicode.ToLower(set[i])
		if i+2 < len(set) && set[i+1] == '-' {
			if hi := unicode.ToLower(set[i+2]); lo <= r && r <= hi {
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

// processNames counts the host's processes by name, for the names keep
// accepts.
func (h *host) processNames(keep func(name string) bool) map[string]int {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	out := map[string]int{}
	for _, p := range h.processesLocked() {
		if keep(p.name) {
			out[p.name]++
		}
	}
	return out
}

// stopProcessesNamed ends every process with one of names, as piping them
// to Stop-Process -Force does: nothing is stopped if one of them is a
// protected system process. It returns the pids.
func (h *host) stopProcessesNamed(names []string) ([]int, error) {
	h.hs().mu.Lock()
	defer h.hs().mu.Unlock()
	var match []procEntry
	for _, p := range h.processesLocked() {
		for _, n := range names {
			if strings.EqualFold(p.name, n) {
				match = append(match, p)
				break
			}
		}
	}
	for _, p := range match {
		if p.crit {
			return nil, fmt.Errorf("Cannot stop process \"%s (%d)\" because of the following error: Access is denied", p.name, p.pid)
		}
	}
	pids := make([]int, len(match))
	for i, p := range match {
		pids[i] = p.pid
		h.killLocked(p.pid)
	}
	return pids, nil
}
