package ui

import (
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/themes"
)

// NoticeMsg shows a message in the status line (a toast): for about five
// seconds, or, when Err is set, in the error style until a key is
// pressed. main sends it with tea.Program.Send, e.g. on a config reload
// ("config reloaded: engine.throttle: 50 -> 120").
type NoticeMsg struct {
	Text string
	Err  bool
}

// ThemeMsg switches the theme while the console runs (config reload). An
// unknown name keeps the current theme and shows an error toast.
type ThemeMsg struct {
	Name string
}

// TitleMsg replaces the header's title (the org, after a config reload
// changed org:); "" is "rmm".
type TitleMsg struct {
	Title string
}

// SettingsMsg replaces what the settings view shows (config reload).
type SettingsMsg struct {
	Settings []Setting
}

// toastTime is how long an informational toast stays.
const toastTime = 5 * time.Second

// toast is the message in the status line.
type toast struct {
	text string
	err  bool
	seq  int // which notify made it, so an old timer cannot clear a newer toast
}

type toastExpiredMsg struct{ seq int }

// notify shows a toast. An error stays until a key is pressed; anything
// else goes after toastTime.
func (m *Model) notify(text string, isErr bool) tea.Cmd {
	m.toastSeq++
	m.toast = toast{text: text, err: isErr, seq: m.toastSeq}
	if isErr {
		return nil
	}
	seq := m.toastSeq
	return tea.Tick(toastTime, func(time.Time) tea.Msg { return toastExpiredMsg{seq: seq} })
}

// setTheme switches to the named theme, keeping NoColor.
func (m *Model) setTheme(name string) tea.Cmd {
	th, err := themes.Get(name)
	if err != nil {
		return m.notify(err.Error(), true)
	}
	if m.opts.NoColor {
		th = th.WithoutColor()
	}
	m.look = newLook(th, m.keys)
	m.opts.Theme = name
	return nil
}
