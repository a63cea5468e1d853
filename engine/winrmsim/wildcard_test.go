package winrmsim

import (
	"maps"
	"strings"
	"testing"
)

func TestWildcardsMatchAsPowerShellsWildcardPattern(t *testing.T) {
	tests := []struct {
		pattern, s string
		match      bool
	}{
		{"*", "Spooler", true},
		{"*", "", true},
		{"spool*", "Spooler", true},
		{"Sp??ler", "SPOOLER", true},
		{"Sp?ler", "Spooler", false},
		{"w[a-z]time", "W32Time", false},
		{"w[0-9]2time", "W32Time", true},
		{"[ab]its", "BITS", true},
		{"a`*b", "a*b", true},
		{"a`*b", "axb", false},
		{"a`?b", "axb", false},
		{"[abc", "a", false},
		{"*svc*", "wuauserv", false},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pattern, tt.s); got != tt.match {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.match)
		}
	}
	for s, want := range map[string]bool{"Spooler": false, "Spo*": true, "a?": true, "[x]": true, "a`*": false} {
		if containsWildcard(s) != want {
			t.Errorf("containsWildcard(%q) = %v", s, !want)
		}
	}
}

// Reliability report F3: name=* went to Get-Service -Name, which on
// Windows matches every service. The v2 scripts refuse a wildcard unless
// pattern=true, list the matches without changing anything, and act only
// on the matched names the caller confirmed.
func TestServiceAndProcessPatternsListFirstAndActOnlyOnConfirmedNames(t *testing.T) {
	f := startFleet(t, Config{Devices: 1, Seed: 5})
	s := startLoop(t, f, 0)
	s.until("READY")
	s.mustFail("action_service_control", map[string]string{"name": "*", "op": "restart"}, "wildcard character")
	s.mustFail("action_process_kill", map[string]string{"name": "svc*"}, "wildcard character")

	states := func() map[string]string {
		out := map[string]string{}
		for _, sv := range f.hosts[0].services() {
			out[sv.Name] = sv.State
		}
		return out
	}
	before := states()
	var preview struct {
		Preview bool     `json:"preview"`
		Matches []string `json:"matches"`
	}
	doc := s.mustOK("action_service_control", map[string]string{"name": "W*", "op": "stop", "pattern": "true"}, &preview)
	if !preview.Preview || len(preview.Matches) < 2 || !strings.Contains(doc.Message, "nothing was changed") {
		t.Fatalf("a pattern without matches: %q %+v", doc.Message, preview)
	}
	for _, m := range preview.Matches {
		if !strings.HasPrefix(strings.ToUpper(m), "W") {
			t.Errorf("W* matched %s", m)
		}
	}
	if after := states(); !maps.Equal(after, before) {
		t.Fatalf("the listing run changed services")
	}
	confirmed := preview.Matches[0]
	doc = s.mustOK("action_service_control", map[string]string{"name": "W*", "op": "stop", "pattern": "true", "matches": confirmed}, nil)
	if !strings.HasPrefix(doc.Message, "1 service(s) stopped: "+confirmed) || !strings.Contains(doc.Message, "left alone") {
		t.Fatalf("a confirmed pattern run: %q", doc.Message)
	}
	if got := s.service(confirmed).State; got != "Stopped" {
		t.Errorf("%s is %s after its confirmed stop", confirmed, got)
	}
	after := states()
	for _, m := range preview.Matches[1:] {
		if after[m] != before[m] {
			t.Errorf("%s, matched but not confirmed, changed", m)
		}
	}
	s.mustFail("action_service_control", map[string]string{"name": "W*", "op": "stop", "pattern": "true", "matches": "Spooler"}, "none of the confirmed services")

	n := len(s.processes("notepad")) + len(s.processes("explorer"))
	var pp struct {
		Matches []string `json:"matches"`
	}
	s.mustOK("action_process_kill", map[string]string{"name": "svc*", "pattern": "true"}, &pp)
	if len(pp.Matches) != 1 || pp.Matches[0] != "svchost" {
		t.Fatalf("svc* matches %v", pp.Matches)
	}
	if n2 := len(s.processes("notepad")) + len(s.processes("explorer")); n2 != n {
		t.Errorf("the listing run stopped processes")
	}
}
