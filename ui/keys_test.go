package ui

import (
	"testing"

	"charm.land/bubbles/v2/key"
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
		"backspace": {Code: tea.KeyBackspace},
		"ctrl+c":    {Code: 'c', Mod: tea.ModCtrl},
		"ctrl+d":    {Code: 'd', Mod: tea.ModCtrl},
		"ctrl+u":    {Code: 'u', Mod: tea.ModCtrl},
		"ctrl+w":    {Code: 'w', Mod: tea.ModCtrl},
	}
	if k, ok := special[name]; ok {
		return tea.KeyPressMsg(k)
	}
	r := []rune(name)[0]
	return tea.KeyPressMsg{Code: r, Text: name}
}

func TestShortHelpReadsAsTheStatusLine(t *testing.T) {
	m := New(newHubClient(nil), Options{})
	got := ansi.Strip(m.help.ShortHelpView(m.keys.ShortHelp()))
	if want := "j/k move  / filter  s sort  ? help  q quit"; got != want {
		t.Errorf("short help = %q, want %q", got, want)
	}
}

func TestFullHelpCoversEveryKey(t *testing.T) {
	k := DefaultKeyMap()
	inHelp := map[string]bool{}
	for _, col := range k.FullHelp() {
		for _, b := range col {
			h := b.Help()
			if h.Key == "" || h.Desc == "" {
				t.Errorf("binding %v has no help", b.Keys())
			}
			for i := 0; i < len(h.Key+h.Desc); i++ {
				if (h.Key + h.Desc)[i] >= 0x80 {
					t.Errorf("help %q is not ASCII (shown in the ascii theme too)", h.Key+" "+h.Desc)
				}
			}
			for _, key := range b.Keys() {
				inHelp[key] = true
			}
		}
	}
	for _, b := range []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.HalfUp, k.HalfDown, k.Top, k.Bottom,
		k.Filter, k.Clear, k.Sort, k.Reverse, k.Help, k.Quit} {
		for _, key := range b.Keys() {
			if !inHelp[key] {
				t.Errorf("key %q is bound but not in the help overlay", key)
			}
		}
	}
}
