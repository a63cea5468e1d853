package ui

import (
	"slices"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// runLine types a command line into the palette and runs it, running the
// command it returns (an export) the way the program would.
func runLine(t *testing.T, m Model, line string) Model {
	t.Helper()
	m = update(m, keyPress(":"))
	m = update(m, typeText(line)...)
	nm, cmd := m.Update(keyPress("enter"))
	m = nm.(Model)
	if cmd != nil {
		if msg := cmd(); msg != nil {
			if _, ok := msg.(toastExpiredMsg); !ok {
				m = update(m, msg)
			}
		}
	}
	return m
}

func suggestionTexts(m Model) []string {
	var out []string
	for _, s := range m.suggestions() {
		out = append(out, s.text)
	}
	return out
}

func TestPaletteCompletion(t *testing.T) {
	m := loaded(t, fleet(20), Options{SavedViews: map[string]string{"hot": "cpu>90", "hotter": "cpu>95"}}, 120, 40)
	m = update(m, keyPress(":"))
	if got := len(m.suggestions()); got != 11 {
		t.Errorf("an empty palette suggests %d commands, want all 11: %v", got, suggestionTexts(m))
	}
	tests := []struct {
		name  string
		keys  []tea.Msg
		input string
		sugg  []string
	}{
		{"a prefix narrows", typeText("s"), "s", []string{"settings", "sort "}},
		{"tab completes the only match", append(typeText("th"), keyPress("tab")), "theme ", []string{"theme default", "theme light", "theme high-contrast", "theme ascii"}},
		{"arguments complete", append(typeText("theme a"), keyPress("tab")), "theme ascii", []string{"theme ascii"}},
		{"tab on an ambiguous prefix highlights, tab again takes", append(typeText("s"), keyPress("tab"), keyPress("tab")), "settings", []string{"settings"}},
		{"down picks, tab takes", append(typeText("s"), keyPress("down"), keyPress("down"), keyPress("tab")), "sort ", nil},
		{"up wraps to the last", append(typeText("ex"), keyPress("tab"), keyPress("up"), keyPress("tab")), "export json ", nil},
		{"common prefix", append(typeText("view h"), keyPress("tab")), "view hot", []string{"view hot", "view hotter"}},
		{"sort directions", typeText("sort cpu "), "sort cpu ", []string{"sort cpu asc", "sort cpu desc"}},
		{"sort columns", typeText("sort l"), "sort l", []string{"sort last_seen"}},
		{"q is an alias", typeText("q"), "q", []string{"quit"}},
		{"ctrl+w deletes a word", append(typeText("sort cpu"), keyPress("ctrl+w")), "sort ", nil},
		{"backspace", append(typeText("sortx"), keyPress("backspace")), "sort", []string{"sort "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := update(m, tt.keys...)
			if !got.palette.open || got.palette.input != tt.input {
				t.Fatalf("input = %q (open %v), want %q", got.palette.input, got.palette.open, tt.input)
			}
			if tt.sugg != nil && !slices.Equal(suggestionTexts(got), tt.sugg) {
				t.Errorf("suggestions = %q, want %q", suggestionTexts(got), tt.sugg)
			}
		})
	}
	noViews := loaded(t, fleet(5), Options{}, 120, 40)
	noViews = update(noViews, keyPress(":"), keyPress("v"))
	if len(noViews.suggestions()) != 0 {
		t.Error(":view is suggested without saved views")
	}
}

func TestPaletteEnterOnAPickedSuggestion(t *testing.T) {
	m := loaded(t, fleet(20), Options{}, 120, 40)
	// A complete command runs.
	m2 := update(m, keyPress(":"))
	m2 = update(m2, append(typeText("gr"), keyPress("down"), keyPress("enter"))...)
	if m2.palette.open || !m2.grid.grouped {
		t.Errorf("picking group and enter: open %v grouped %v", m2.palette.open, m2.grid.grouped)
	}
	// One that needs an argument fills in and waits for it.
	m3 := update(m, keyPress(":"))
	m3 = update(m3, append(typeText("the"), keyPress("down"), keyPress("enter"))...)
	if !m3.palette.open || m3.palette.input != "theme " {
		t.Errorf("picking theme and enter: open %v input %q", m3.palette.open, m3.palette.input)
	}
	m3 = update(m3, keyPress("down"), keyPress("down"), keyPress("enter"))
	if m3.palette.open || m3.theme.Name != "light" {
		t.Errorf("picking light: open %v theme %q", m3.palette.open, m3.theme.Name)
	}
	if esc := update(m, keyPress(":"), keyPress("x"), keyPress("esc")); esc.palette.open || esc.toast.text != "" {
		t.Error("esc should close the palette without running anything")
	}
}

func TestPaletteCommands(t *testing.T) {
	views := map[string]string{"paris": "site:paris sort:-mem"}
	base := loaded(t, fleet(100), Options{SavedViews: views, Settings: []Setting{{Key: "org", Value: "x"}}}, 120, 40)
	tests := []struct {
		line  string
		check func(t *testing.T, m Model)
	}{
		{"settings", func(t *testing.T, m Model) {
			if m.page != pageSettings {
				t.Errorf("page %d", m.page)
			}
		}},
		{"detail", func(t *testing.T, m Model) {
			if m.page != pageDetail || m.detail.id != m.devices[m.grid.rows[0]].ID {
				t.Errorf("page %d, detail of %d", m.page, m.detail.id)
			}
		}},
		{"devices", func(t *testing.T, m Model) {
			if m.page != pageDevices {
				t.Errorf("page %d", m.page)
			}
		}},
		{"sort mem", func(t *testing.T, m Model) {
			if m.grid.sortBy != ColMem || !m.grid.sortDesc {
				t.Errorf("sort %v desc %v, want MEM busiest first", m.grid.sortBy, m.grid.sortDesc)
			}
		}},
		{"sort cpu asc", func(t *testing.T, m Model) {
			if m.grid.sortBy != ColCPU || m.grid.sortDesc {
				t.Errorf("sort %v desc %v", m.grid.sortBy, m.grid.sortDesc)
			}
		}},
		{"SORT Host desc", func(t *testing.T, m Model) {
			if m.grid.sortBy != ColHostname || !m.grid.sortDesc {
				t.Errorf("sort %v desc %v", m.grid.sortBy, m.grid.sortDesc)
			}
		}},
		{"sort cpu sideways", func(t *testing.T, m Model) {
			if !strings.Contains(m.toast.text, `"sideways" is not asc or desc`) {
				t.Errorf("toast %q", m.toast.text)
			}
		}},
		{"sort ram", func(t *testing.T, m Model) {
			if !strings.Contains(m.toast.text, "unknown column") {
				t.Errorf("toast %q", m.toast.text)
			}
		}},
		{"filter tag:sql cpu>50", func(t *testing.T, m Model) {
			if m.grid.filter != "tag:sql cpu>50" || len(m.grid.rows) == 0 {
				t.Errorf("filter %q rows %d", m.grid.filter, len(m.grid.rows))
			}
		}},
		{"filter cpu>", func(t *testing.T, m Model) {
			if !m.toast.err || !strings.Contains(m.toast.text, "filter: cpu>: needs a number") || len(m.grid.rows) != 0 {
				t.Errorf("toast %q rows %d", m.toast.text, len(m.grid.rows))
			}
		}},
		{"view paris", func(t *testing.T, m Model) {
			if m.grid.filter != "site:paris" || m.grid.sortBy != ColMem || m.grid.view != "paris" {
				t.Errorf("filter %q sort %v view %q", m.grid.filter, m.grid.sortBy, m.grid.view)
			}
		}},
		{"group", func(t *testing.T, m Model) {
			if !m.grid.grouped {
				t.Error("not grouped")
			}
		}},
		{"theme ascii", func(t *testing.T, m Model) {
			if m.theme.Name != "ascii" {
				t.Errorf("theme %q", m.theme.Name)
			}
			requireASCII(t, "screen", []byte(m.View().Content))
		}},
		{"theme solarized", func(t *testing.T, m Model) {
			if m.theme.Name != "default" || !m.toast.err || !strings.Contains(m.toast.text, `unknown theme "solarized"`) {
				t.Errorf("theme %q toast %q", m.theme.Name, m.toast.text)
			}
		}},
		{"help", func(t *testing.T, m Model) {
			if !m.showHelp {
				t.Error("help not shown")
			}
		}},
		{"thme ascii", func(t *testing.T, m Model) {
			if !m.toast.err || m.toast.text != `unknown command "thme": did you mean "theme"?` {
				t.Errorf("toast %q", m.toast.text)
			}
			if !strings.Contains(ansi.Strip(m.View().Content), `unknown command "thme": did you mean "theme"?`) {
				t.Error("the toast is not on screen")
			}
		}},
		{"xyzzy", func(t *testing.T, m Model) {
			if !strings.HasPrefix(m.toast.text, `unknown command "xyzzy"`) {
				t.Errorf("toast %q", m.toast.text)
			}
		}},
		{"export", func(t *testing.T, m Model) {
			if m.toast.text != "usage: :export csv|json PATH" {
				t.Errorf("toast %q", m.toast.text)
			}
		}},
		{"export xml out.xml", func(t *testing.T, m Model) {
			if !strings.Contains(m.toast.text, `format "xml" is not csv or json`) {
				t.Errorf("toast %q", m.toast.text)
			}
		}},
		{"export csv x.csv", func(t *testing.T, m Model) {
			if !m.toast.err || m.toast.text != "export: this console cannot send requests to the engine" {
				t.Errorf("toast %q", m.toast.text)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			tt.check(t, runLine(t, base, tt.line))
		})
	}
	for _, q := range []string{"q", "quit"} {
		m := update(base, keyPress(":"))
		m = update(m, typeText(q)...)
		nm, cmd := m.Update(keyPress("enter"))
		if cmd == nil || !nm.(Model).quitting {
			t.Errorf(":%s does not quit", q)
		}
	}
}

func TestEditDistanceAndClosest(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"theme", "theme", 0}, {"thme", "theme", 1}, {"thmee", "theme", 1}, {"setings", "settings", 1}, {"", "abc", 3}} {
		if d := editDistance(tt.a, tt.b); d != tt.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, d, tt.d)
		}
	}
	cmds := []string{"devices", "detail", "settings", "sort", "quit", "q"}
	if c, ok := closest("setings", cmds); !ok || c != "settings" {
		t.Errorf("closest(setings) = %q %v", c, ok)
	}
	if c, ok := closest("xyzzy", cmds); ok {
		t.Errorf("closest(xyzzy) = %q, want nothing close", c)
	}
}
