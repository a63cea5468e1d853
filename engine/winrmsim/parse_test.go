package winrmsim

import (
	"encoding/base64"
	"slices"
	"testing"
	"time"
	"unicode/utf16"
)

func TestParseDurationReadsXSDurations(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT60S", 60 * time.Second, true},
		{"PT60.000S", 60 * time.Second, true},
		{"PT0.200S", 200 * time.Millisecond, true},
		{"PT1M30S", 90 * time.Second, true},
		{"P0DT0H1M0S", time.Minute, true},
		{"P1D", 24 * time.Hour, true},
		{" PT5S ", 5 * time.Second, true},
		{"", 0, false},
		{"60", 0, false},
		{"PT", 0, false},
		{"PT5X", 0, false},
		{"P5S", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseDuration(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSplitArgsFollowsCommandLineToArgvW(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`a b  c`, []string{"a", "b", "c"}},
		{`"a b" c`, []string{"a b", "c"}},
		{`a\\b "c\"d"`, []string{`a\\b`, `c"d`}},
		{`"a\\" b`, []string{`a\`, "b"}},
		{`-Command "Write-Output 'x'"`, []string{"-Command", "Write-Output 'x'"}},
		{``, nil},
	}
	for _, tt := range tests {
		if got := splitArgs(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("splitArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func encode(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestPowerShellSwitchesAreParsedLike51(t *testing.T) {
	enc := encode("hostname")
	tests := []struct {
		name      string
		args      string
		script    string
		encoded   bool
		fromStdin bool
		argErr    bool
	}{
		{"-EncodedCommand decodes UTF-16LE base64", "-EncodedCommand " + enc, "hostname", true, false, false},
		{"-enc is short for it", "-NoProfile -NonInteractive -enc " + enc, "hostname", true, false, false},
		{"-e is short for it", "-e " + enc, "hostname", true, false, false},
		{"-ec is its alias", "-ec " + enc, "hostname", true, false, false},
		{"switch names are case-insensitive", "-ENCODEDCOMMAND " + enc, "hostname", true, false, false},
		{"-ExecutionPolicy takes a value", "-ExecutionPolicy Bypass -NoProfile -EncodedCommand " + enc, "hostname", true, false, false},
		{"-ex is -ExecutionPolicy, not -EncodedCommand", "-ex Bypass -c hostname", "hostname", false, false, false},
		{"-Command takes the rest of the line", "-NoProfile -Command Get-Date; hostname", "Get-Date; hostname", false, false, false},
		{"-Command - reads stdin", "-Command -", "", false, true, false},
		{"no command reads stdin", "-NoProfile -NonInteractive", "", false, true, false},
		{"a bare word starts the command", "Write-Output hi", "Write-Output hi", false, false, false},
		{"bad base64 is an argument error", "-EncodedCommand !!!", "", false, false, true},
		{"-File of a missing file is an argument error", "-File C:\\x.ps1", "", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPowerShell(&machine{}, tt.args)
			if p.script != tt.script || p.encoded != tt.encoded || p.fromStdin != tt.fromStdin || (p.argErr != "") != tt.argErr {
				t.Errorf("got script %q encoded %v stdin %v err %q", p.script, p.encoded, p.fromStdin, p.argErr)
			}
		})
	}
}

func TestTheScriptMarkerIsFoundWhereverTheScriptStarts(t *testing.T) {
	tests := []struct {
		script string
		name   string
		ok     bool
	}{
		{"# rmm:script=metrics v1\n$x = 1", "metrics", true},
		{"$ProgressPreference = 'SilentlyContinue';# rmm:script=metrics v1\r\n$x", "metrics", true},
		{"#rmm:script=inv.2-b v12", "inv.2-b", true},
		{"Write-Output '# rmm:script=metrics v1'", "", false},
		{"# rmm:script=metrics", "", false},
	}
	for _, tt := range tests {
		m := scriptMarker.FindStringSubmatch(tt.script)
		if (m != nil) != tt.ok || (m != nil && m[1] != tt.name) {
			t.Errorf("marker in %q = %q, want %q (found %v)", tt.script, m, tt.name, tt.ok)
		}
	}
}

func TestStatementsSplitAtNewlinesAndSemicolonsOutsideQuotes(t *testing.T) {
	got := statements("$a = 'x;y'; hostname # comment; not a statement\n<# block\n still #> whoami\n\"q\"")
	var texts []string
	for _, s := range got {
		texts = append(texts, s.text)
	}
	want := []string{"$a = 'x;y'", "hostname", "whoami", `"q"`}
	if !slices.Equal(texts, want) {
		t.Errorf("statements = %q, want %q", texts, want)
	}
	if got[1].line != 1 || got[1].col != 13 {
		t.Errorf("hostname at line %d char %d, want 1 and 13", got[1].line, got[1].col)
	}
}

func TestGUIDsAreUpperCaseVersion4(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		g := newGUID()
		if len(g) != 36 || g[14] != '4' || g[8] != '-' || seen[g] {
			t.Fatalf("bad or repeated GUID %q", g)
		}
		for _, c := range g {
			if c >= 'a' && c <= 'z' {
				t.Fatalf("GUID %q is not upper case", g)
			}
		}
		seen[g] = true
	}
}
