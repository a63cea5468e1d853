package scripts

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf16"
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

func TestEncodedCommandRoundTripsTheScriptAsUTF16LE(t *testing.T) {
	s, err := Get("metrics")
	if err != nil {
		t.Fatal(err)
	}
	cmd := s.Command()
	const prefix = "powershell.exe -NoProfile -NonInteractive -EncodedCommand "
	if !strings.HasPrefix(cmd, prefix) {
		t.Fatalf("command %q lacks prefix", cmd[:60])
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(cmd, prefix))
	if err != nil {
		t.Fatal(err)
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
	}
	if got := string(utf16.Decode(u)); got != s.Body {
		t.Fatalf("decoded script differs from the embedded one")
	}
	if !strings.HasPrefix(s.Body, "# rmm:script=metrics v2") {
		t.Fatalf("marker is not the first line")
	}
}

func TestGetRefusesAnUnknownScript(t *testing.T) {
	if _, err := Get("nope"); err == nil {
		t.Fatal("Get(nope) succeeded")
	}
}
