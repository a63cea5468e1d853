package themes

import (
	"reflect"
	"strings"
	"testing"

	"charm.land/lipgloss/v2"
)

func TestGetKnowsEveryName(t *testing.T) {
	for _, name := range Names() {
		th, err := Get(name)
		if err != nil {
			t.Fatalf("Get(%q): %v", name, err)
		}
		if th.Name != name || !th.Color {
			t.Errorf("Get(%q) = name %q color %v", name, th.Name, th.Color)
		}
	}
}

func TestGetUnknownListsValidNames(t *testing.T) {
	_, err := Get("solarized")
	if err == nil {
		t.Fatal("Get(solarized) should fail")
	}
	for _, name := range Names() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not list %q", err, name)
		}
	}
}

// glyphStrings returns every string a theme's glyphs can draw.
func glyphStrings(g Glyphs) []string {
	b := g.Border
	s := []string{g.Online, g.Offline, g.Unknown, g.Ellipsis, g.BarFull, g.BarEmpty,
		g.SortAsc, g.SortDesc, g.Separator, g.Cursor, g.Pointer, g.HelpSep,
		b.Top, b.Bottom, b.Left, b.Right, b.TopLeft, b.TopRight, b.BottomLeft, b.BottomRight,
		b.MiddleLeft, b.MiddleRight, b.Middle, b.MiddleTop, b.MiddleBottom, g.Mark,
		g.SevCritical, g.SevHigh, g.SevMedium, g.SevLow, g.SevInfo}
	s = append(s, g.Spark...)
	return append(s, g.BarPartial...)
}

func TestASCIIThemeDrawsOnlyASCII(t *testing.T) {
	th, err := Get(ASCII)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range glyphStrings(th.Glyphs) {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				t.Errorf("ascii theme glyph %q has byte %#x", s, s[i])
			}
		}
	}
	box := th.HelpBox.Render("help")
	for i := 0; i < len(box); i++ {
		if box[i] >= 0x80 {
			t.Fatalf("ascii help box has byte %#x:\n%s", box[i], box)
		}
	}
}

func TestEveryThemeHasDistinctStatusSymbols(t *testing.T) {
	for _, name := range Names() {
		th, _ := Get(name)
		g := th.Glyphs
		if g.Online == g.Offline || g.Online == g.Unknown || g.Offline == g.Unknown {
			t.Errorf("%s: status symbols must differ: %q %q %q", name, g.Online, g.Offline, g.Unknown)
		}
		for _, s := range glyphStrings(g) {
			if lipgloss.Width(s) != len([]rune(s)) {
				t.Errorf("%s: glyph %q is not one cell per rune", name, s)
			}
		}
	}
}

func TestGlyphsAreNotShared(t *testing.T) {
	a, _ := Get(Default)
	a.Glyphs.BarPartial[0] = "X"
	b, _ := Get(Default)
	if b.Glyphs.BarPartial[0] == "X" {
		t.Error("changing one theme's glyphs changed another's")
	}
}

func TestWithoutColorDropsColourKeepsEmphasis(t *testing.T) {
	if th, _ := Get(Default); !strings.Contains(th.Online.Render("x"), "38;") {
		t.Fatal("the default theme should colour Online; this test would prove nothing")
	}
	for _, name := range Names() {
		th, _ := Get(name)
		nc := th.WithoutColor()
		if nc.Color || nc.Name != name || !reflect.DeepEqual(nc.Glyphs, th.Glyphs) {
			t.Errorf("%s: WithoutColor changed more than colour", name)
		}
		v := reflect.ValueOf(nc)
		for i := 0; i < v.NumField(); i++ {
			st, ok := v.Field(i).Interface().(lipgloss.Style)
			if !ok {
				continue
			}
			field := v.Type().Field(i).Name
			if out := st.Render("x"); strings.Contains(out, "38;") || strings.Contains(out, "48;") {
				t.Errorf("%s: %s still has colour: %q", name, field, out)
			}
		}
		if !nc.Selected.GetReverse() || !nc.Selected.GetBold() {
			t.Errorf("%s: without colour the selection must be bold and reverse", name)
		}
		if !nc.Offline.GetBold() {
			t.Errorf("%s: without colour offline must still stand out (bold)", name)
		}
	}
}

func TestAutoName(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"UTF-8 LANG", map[string]string{"LANG": "en_US.UTF-8"}, Default},
		{"utf8 spelling", map[string]string{"LANG": "de_DE.utf8"}, Default},
		{"LC_ALL wins over LANG", map[string]string{"LC_ALL": "C", "LANG": "en_US.UTF-8"}, ASCII},
		{"LC_CTYPE wins over LANG", map[string]string{"LC_CTYPE": "en_GB.UTF-8", "LANG": "C"}, Default},
		{"POSIX locale", map[string]string{"LANG": "POSIX"}, ASCII},
		{"Latin-1 locale", map[string]string{"LANG": "fr_FR.ISO-8859-1"}, ASCII},
		{"no locale at all", map[string]string{}, ASCII},
		{"Windows Terminal without a locale", map[string]string{"WT_SESSION": "abc"}, Default},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AutoName(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("AutoName = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNoColor(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "NO_COLOR" {
				return v
			}
			return ""
		}
	}
	if NoColor(env("")) {
		t.Error("unset NO_COLOR must keep colour")
	}
	for _, v := range []string{"1", "true", "yes", "0"} {
		if !NoColor(env(v)) {
			t.Errorf("NO_COLOR=%q must drop colour (any non-empty value, no-color.org)", v)
		}
	}
}

func TestEveryThemeHasMarksSparksAndAVisibleActiveTab(t *testing.T) {
	for _, name := range Names() {
		th, _ := Get(name)
		if th.Glyphs.Mark == "" || len(th.Glyphs.Spark) < 4 {
			t.Errorf("%s: mark %q, %d spark levels", name, th.Glyphs.Mark, len(th.Glyphs.Spark))
		}
		if th.Glyphs.Mark == th.Glyphs.Pointer {
			t.Errorf("%s: the mark and the cursor pointer must differ", name)
		}
		nc := th.WithoutColor()
		if !nc.TabActive.GetReverse() {
			t.Errorf("%s: without colour the active tab must be reverse video", name)
		}
	}
	a, _ := Get(ASCII)
	if got := strings.Join(a.Glyphs.Spark, ""); got != "_.-=+*#" {
		t.Errorf("ascii sparkline levels = %q", got)
	}
}

func TestEveryThemeHasDistinctOneCellSeveritySymbols(t *testing.T) {
	for _, name := range Names() {
		th, _ := Get(name)
		g := th.Glyphs
		seen := map[string]bool{}
		for _, s := range []string{g.SevCritical, g.SevHigh, g.SevMedium, g.SevLow, g.SevInfo} {
			if lipgloss.Width(s) != 1 {
				t.Errorf("%s: severity symbol %q is not one cell", name, s)
			}
			if seen[s] {
				t.Errorf("%s: two severities share the symbol %q", name, s)
			}
			seen[s] = true
		}
		nc := th.WithoutColor()
		if !nc.SevCritical.GetBold() || !nc.SevHigh.GetBold() {
			t.Errorf("%s: without colour Critical and High alerts must still stand out (bold)", name)
		}
	}
}
