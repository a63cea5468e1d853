package scripts

import (
	"testing"
)

func TestEveryEmbeddedScriptHasAMatchingMarker(t *testing.T) {
	names := Names()
	if len(names) == 0 {
		t.Fatal("no scripts embedded")
	}
	for _, n := range names {
		s, err := Get(n)
		if err != nil {
			t.Errorf("Get(%q): %v", n, err)
			continue
		}
		if s.Version < 1 {
			t.Errorf("%s: version %d, want >= 1", n, s.Version)
		}
		for i, r := range s.Body {
			if r > 0x7f {
				t.Errorf("%s: non-ASCII rune %q at byte %d", n, r, i)
				break
			}
		}
	}
}

func TestGetRefusesAnUnknownScript(t *testing.T) {
	if _, err := Get("nope"); err == nil {
		t.Fatal("Get(nope) succeeded")
	}
}
