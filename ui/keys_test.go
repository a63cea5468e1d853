package ui

import (
	"slices"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// keyPress builds the message a terminal sends for a key, by the name
// tea.KeyPressMsg.String() gives it ("j", "pgdown", "ctrl+d", "esc").
func keyPress(name string) tea.KeyPressMsg {
	special := map[string]tea.Key{
		"up":        {Code: tea.KeyUp},
		"down":      {Code: tea.KeyDown},
		"pgup":      {Code: tea.KeyPgUp},
		"pgdown":    {Code: tea.KeyPgDown},
		"home":      {Code: tea.KeyHome},
		"end":       {Code: tea.KeyEnd},
		"esc":       {Code: tea.KeyEscape},
		"enter":     {Code: tea.KeyEnter},
		"tab":       {Code: tea.KeyTab},
		"backspace": {Code: tea.KeyBackspace},
		"space":     {Code: tea.KeySpace, Text: " "},
		"f2":        {Code: tea.KeyF2},
		"ctrl+c":    {Code: 'c', Mod: tea.ModCtrl},
		"ctrl+d":    {Code: 'd', Mod: tea.ModCtrl},
		"ctrl+f":    {Code: 'f', Mod: tea.ModCtrl},
		"ctrl+u":    {Code: 'u', Mod: tea.ModCtrl},
		"ctrl+w":    {Code: 'w', Mod: tea.ModCtrl},
	}
	if k, ok := special[name]; ok {
		return tea.KeyPressMsg(k)
	}
	r := []rune(name)[0]
	return tea.KeyPressMsg{Code: r, Text: name}
}

// typeText is one key press per character, as a person types.
func typeText(s string) []tea.Msg {
	var out []tea.Msg
	for _, r := range s {
		if r == ' ' {
			out = append(out, keyPress("space"))
			continue
		}
		out = append(out, keyPress(string(r)))
	}
	return out
}

func TestKeyPressNamesMatchBubbleTea(t *testing.T) {
	for _, name := range []string{"space", "enter", "esc", "tab", "ctrl+d", "f2", "G", ":", "/"} {
		if got := keyPress(name).String(); got != name {
			t.Errorf("keyPress(%q).String() = %q", name, got)
		}
	}
}

func TestShortHelpReadsAsTheStatusLine(t *testing.T) {
	m := New(newHubClient(nil), Options{})
	tests := map[pageID]string{
		pageDevices:  "j/k move  / filter  enter detail  space mark  : command  ? help  q quit",
		pageDetail:   "esc back  j/k scroll  left/right tab  : command  ? help  q quit",
		pageSettings: "esc back  j/k move  : command  ? help  q quit",
	}
	for p, want := range tests {
		m.page = p
		if got := ansi.Strip(m.shortHelp(200)); got != want {
			t.Errorf("page %d short help = %q, want %q", p, got, want)
		}
	}
}

func TestHelpListsEveryBoundKey(t *testing.T) {
	m := loadedWith(t, newPatchClient(fleet(10), 0), Options{Role: "Admin"}, 120, 40)
	m.showHelp = true
	help := ansi.Strip(strings.Join(m.helpLines(), "\n"))
	for _, a := range actions() {
		h := a.binding(&m.keys).Help()
		if h.Key == "" || h.Desc == "" {
			t.Errorf("action %s has no help", a.name)
		}
		if !strings.Contains(help, h.Key+" ") || !strings.Contains(help, h.Desc) {
			t.Errorf("help lacks %s (%q %q)", a.name, h.Key, h.Desc)
		}
		for _, s := range []string{h.Key, h.Desc} {
			for i := 0; i < len(s); i++ {
				if s[i] >= 0x80 {
					t.Errorf("help %q is not ASCII (shown in the ascii theme too)", s)
				}
			}
		}
	}
	for _, c := range m.commands {
		if c.hidden == nil && !strings.Contains(help, ":"+c.name) {
			t.Errorf("help lacks the command :%s", c.name)
		}
	}
	for _, s := range []string{"switch view", "ctrl+c", "cpu>80", "tag:sql", "!term"} {
		if !strings.Contains(help, s) {
			t.Errorf("help lacks %q", s)
		}
	}
}

func TestValidateKeys(t *testing.T) {
	tests := []struct {
		name    string
		keys    map[string][]string
		wantErr string // "" for valid
	}{
		{"no overrides", nil, ""},
		{"a second key for filter", map[string][]string{"filter": {"/", "f"}}, ""},
		{"named keys and modifiers in any case", map[string][]string{"open": {"Enter", "Alt+Ctrl+O"}, "help": {"F1"}}, ""},
		{"an unknown action names the closest", map[string][]string{"fliter": {"f"}}, `unknown action "fliter": did you mean "filter"?`},
		{"an empty key list", map[string][]string{"quit": {}}, "keys.quit: no keys given"},
		{"a key no terminal sends", map[string][]string{"quit": {"ctlr+q"}}, `unknown modifier "ctlr"`},
		{"a misspelt key name", map[string][]string{"quit": {"escpe"}}, `unknown key name "escpe"`},
		{"an empty key", map[string][]string{"quit": {""}}, "empty key"},
		{"one key for two actions", map[string][]string{"filter": {"s"}}, "s is bound to both filter and sort"},
		{"digits switch views", map[string][]string{"help": {"3"}}, "3 switches to view 3"},
		{"ctrl+c always quits", map[string][]string{"help": {"ctrl+c"}}, "ctrl+c always quits"},
		{"ctrl+c for quit is fine", map[string][]string{"quit": {"q", "ctrl+c"}}, ""},
		{"moving sort away frees its key", map[string][]string{"filter": {"s"}, "sort": {"o"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateKeys(tt.keys)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("ValidateKeys: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("ValidateKeys accepted %v", tt.keys)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("ValidateKeys error %q lacks %q", err, tt.wantErr)
			}
		})
	}
}

func TestNormalizeKey(t *testing.T) {
	tests := map[string]string{
		"j": "j", "G": "G", " ": "space", "Space": "space", "ESCAPE": "esc", "PageDown": "pgdown",
		"alt+ctrl+x": "ctrl+alt+x", "Ctrl+D": "ctrl+d", "shift+tab": "shift+tab", "F12": "f12", "ctrl++": "ctrl++",
	}
	for in, want := range tests {
		got, err := NormalizeKey(in)
		if err != nil || got != want {
			t.Errorf("NormalizeKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestActionsAreTheKeyMap(t *testing.T) {
	k := DefaultKeyMap()
	names := Actions()
	if len(names) != 46 || !slices.Contains(names, "filter") || !slices.Contains(names, "mark_all") || !slices.Contains(names, "ack_alert") {
		t.Errorf("Actions() = %v", names)
	}
	seen := map[string]bool{}
	for _, a := range actions() {
		b := a.binding(&k)
		if len(b.Keys()) == 0 {
			t.Errorf("%s has no default key", a.name)
		}
		if seen[a.desc] {
			t.Errorf("two actions described as %q", a.desc)
		}
		seen[a.desc] = true
	}
}

func TestKeyOverridesChangeWhatKeysDoAndWhatHelpSays(t *testing.T) {
	opts := Options{Keys: map[string][]string{"filter": {"f", "/"}, "quit": {"Q"}, "down": {"down", "n"}}}
	m := loaded(t, fleet(50), opts, 120, 40)

	typing := update(m, keyPress("f"))
	if !typing.grid.typing {
		t.Error("f does not open the filter")
	}
	if moved := update(m, keyPress("n")); moved.grid.cursor != 1 {
		t.Errorf("n moved the cursor to %d, want 1", moved.grid.cursor)
	}
	if moved := update(m, keyPress("j")); moved.grid.cursor != 0 {
		t.Error("j still moves down after down was rebound to down/n")
	}
	if _, cmd := m.Update(keyPress("q")); cmd != nil {
		t.Error("q still does something after quit was rebound to Q")
	}
	nm, cmd := m.Update(keyPress("Q"))
	if cmd == nil || !nm.(Model).quitting {
		t.Error("Q does not quit")
	}
	if got := ansi.Strip(m.shortHelp(200)); !strings.HasPrefix(got, "n/k move  f filter") || !strings.HasSuffix(got, "Q quit") {
		t.Errorf("short help = %q", got)
	}
	m.showHelp = true
	help := ansi.Strip(strings.Join(m.helpLines(), "\n"))
	for desc, keys := range map[string]string{"filter": "f /", "quit": "Q", "down": "down/n"} {
		if l := lineWith(help, "  "+desc); !strings.Contains(l, keys+" ") {
			t.Errorf("help line for %s is %q, want the keys %q", desc, l, keys)
		}
	}
}

func TestBadKeyOverridesFallBackAndSaySo(t *testing.T) {
	m := loaded(t, fleet(10), Options{Keys: map[string][]string{"nope": {"x"}}}, 120, 40)
	if !m.toast.err || !strings.Contains(m.toast.text, `unknown action "nope"`) {
		t.Errorf("toast = %+v", m.toast)
	}
	if !update(m, keyPress("esc"), keyPress("/")).grid.typing {
		t.Error("the default keys should apply")
	}
}

func TestOneKeyMayServeActionsOfDifferentViews(t *testing.T) {
	// The defaults already do: a marks all devices and acknowledges an
	// alert; r polls now and refreshes the audit log.
	if err := ValidateKeys(nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		keys    map[string][]string
		wantErr string
	}{
		{"ack on a key the devices view uses", map[string][]string{"ack_alert": {"b"}}, ""},
		{"a global key cannot take a view's key", map[string][]string{"quit": {"x"}}, "x is bound to both resolve_alert and quit"},
		{"two alert actions on one key", map[string][]string{"ack_alert": {"x"}}, "x is bound to both ack_alert and resolve_alert"},
		{"filter is used in the audit view too", map[string][]string{"refresh": {"/"}}, "/ is bound to both filter and refresh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateKeys(tt.keys)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("ValidateKeys: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("ValidateKeys error %v, want %q", err, tt.wantErr)
			}
		})
	}
	m := loadedWith(t, newFullClient(fleet(20), 0), Options{Keys: map[string][]string{"ack_alert": {"b"}}}, 120, 40)
	if grouped := update(m, keyPress("b")); !grouped.grid.grouped || len(grouped.work) != 0 {
		t.Error("b still groups the grid")
	}
	if acked := update(m, keyPress("2"), keyPress("b"), keyPress("enter")); len(acked.work) != 1 {
		t.Error("b does not acknowledge in the alerts view")
	}
}
