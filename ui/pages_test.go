package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

func testSettings() []Setting {
	return []Setting{
		{Key: "org", Value: "Contoso MSP", Default: "rmm", Doc: "name shown in the console header"},
		{Key: "engine.throttle", Value: "120", Default: "50", Doc: "WinRM requests in flight at once, 1..1000"},
		{Key: "engine.poll_interval", Value: "5m0s", Default: "5m0s", Doc: "time between the starts of two sweeps, 10s..24h"},
		{Key: "store.db", Value: "/home/alice/.local/share/rmm/a-rather-long-directory-name/rmm.db", Default: "~/.local/share/rmm/rmm.db",
			Doc: "the SQLite database file, which holds devices, metrics and the audit trail; a long description that will not fit"},
	}
}

func TestTabClickAndNumberKeysSwitchViews(t *testing.T) {
	tm := startConsole(t, newHubClient(fleet(50)), Options{Settings: testSettings()}, 120, 40)
	waitFor(t, tm, "WS-0001", "1 Devices", "2 Detail", "3 Settings")
	m := New(newHubClient(nil), Options{})
	m.width = 120
	tabs := m.tabs()
	tm.Send(tea.MouseClickMsg{Button: tea.MouseLeft, X: tabs[2].x + 2, Y: tabsY})
	waitFor(t, tm, "engine.throttle", "KEY", "DEFAULT")
	send(tm, "2")
	waitFor(t, tm, "Detail: LONDON-FILESERVER", "Identity")
	send(tm, "1")
	waitFor(t, tm, "HOSTNAME")
	send(tm, "3", "9") // there is no view 9: nothing happens
	waitFor(t, tm, "engine.throttle")
	tm.Send(tea.MouseClickMsg{Button: tea.MouseLeft, X: tabs[0].x, Y: tabsY})
	final := finish(t, tm)
	if final.page != pageDevices {
		t.Errorf("clicking the first tab left page %d", final.page)
	}
}

func TestTabsComeFromThePageTable(t *testing.T) {
	m := loaded(t, fleet(5), Options{}, 120, 40)
	full := loadedWith(t, newPatchClient(fleet(5), 0), Options{Role: "Admin"}, 120, 40)
	tabLine := strings.Split(screenText(full), "\n")[tabsY]
	for i, p := range pages() {
		if p.id == pageShell || p.tabWhenOpen {
			continue // a tab only while the PowerShell pane (or the view) is open
		}
		if !strings.Contains(tabLine, itoa(i+1)+" "+p.tab) {
			t.Errorf("tab bar %q lacks %d %s", tabLine, i+1, p.tab)
		}
		c, ok := m.lookup(p.name)
		if !ok || c.run == nil {
			t.Errorf("no :%s command for the %s view", p.name, p.tab)
		}
	}
	// A client without the optional interfaces has only what it can show.
	if tabLine := strings.Split(screenText(m), "\n")[tabsY]; strings.TrimSpace(tabLine) != "1 Devices   2 Detail   3 Settings" {
		t.Errorf("basic client's tab bar = %q", tabLine)
	}
	// The active tab is drawn so it reads without colour: reverse video.
	nc := loaded(t, fleet(5), Options{NoColor: true}, 120, 40)
	if line := strings.Split(nc.View().Content, "\n")[tabsY]; !strings.Contains(line, "\x1b[1;7m 1 Devices ") {
		t.Errorf("the active tab is not bold reverse without colour: %q", line)
	}
}

func TestSettingsViewListsTheConfig(t *testing.T) {
	m := loaded(t, fleet(5), Options{Settings: testSettings(), ConfigPath: "/home/alice/.config/rmm/config.yaml"}, 120, 40)
	m = update(m, keyPress("3"))
	scr := screenText(m)
	for _, want := range []string{"KEY", "VALUE", "DEFAULT", "DESCRIPTION", "org", "Contoso MSP", "engine.throttle", "120",
		"engine.poll_interval", "store.db", "read-only: change settings in /home/alice/.config/rmm/config.yaml", "1/4"} {
		if !strings.Contains(scr, want) {
			t.Errorf("settings lack %q:\n%s", want, scr)
		}
	}
	// The selected setting is shown whole under the table.
	m = update(m, keyPress("G"))
	scr = screenText(m)
	if !strings.Contains(scr, "store.db = /home/alice/.local/share/rmm/a-rather-long-directory-name/rmm.db") ||
		!strings.Contains(scr, "audit trail; a long description that will not fit") || !strings.Contains(scr, "4/4") {
		t.Errorf("the last setting is not shown in full:\n%s", scr)
	}
	// Esc goes back; a reload replaces the list.
	if back := update(m, keyPress("esc")); back.page != pageDevices {
		t.Error("esc does not leave settings")
	}
	m = update(m, SettingsMsg{Settings: testSettings()[:1]})
	if scr := screenText(m); strings.Contains(scr, "engine.throttle") || !strings.Contains(scr, "1/1") {
		t.Errorf("SettingsMsg did not replace the list:\n%s", scr)
	}
	// Lines fit, at 80 columns too.
	small := update(m, tea.WindowSizeMsg{Width: 80, Height: 24}, SettingsMsg{Settings: testSettings()})
	for i, l := range strings.Split(small.View().Content, "\n") {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("line %d is %d cells: %q", i, w, ansi.Strip(l))
		}
	}
}

func TestSettingsScroll(t *testing.T) {
	var many []Setting
	for i := range 60 {
		many = append(many, Setting{Key: "key." + itoa(i), Value: "v", Default: "v", Doc: "doc"})
	}
	m := loaded(t, fleet(5), Options{Settings: many}, 80, 24)
	m = update(m, keyPress("3"), keyPress("pgdown"), keyPress("j"))
	if m.settings.pos.cursor <= m.settingsRows() || m.settings.pos.offset == 0 {
		t.Errorf("pgdown then j: cursor %d offset %d", m.settings.pos.cursor, m.settings.pos.offset)
	}
	if !strings.Contains(screenText(m), "key."+itoa(m.settings.pos.cursor)+" = v") {
		t.Error("the selected setting is not the one described")
	}
	m = update(m, tea.MouseClickMsg{Button: tea.MouseLeft, X: 5, Y: bodyTop + 1})
	if m.settings.pos.cursor != m.settings.pos.offset {
		t.Errorf("clicking the first row selects %d, want %d", m.settings.pos.cursor, m.settings.pos.offset)
	}
}

func TestNoticeMsg(t *testing.T) {
	tm := startConsole(t, newHubClient(fleet(50)), Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	tm.Send(NoticeMsg{Text: "config reloaded: engine.throttle: 50 -> 120"})
	waitFor(t, tm, "config reloaded: engine.throttle: 50 -> 120")
	m := finish(t, tm)
	if m.toast.err {
		t.Error("a notice is not an error")
	}
	// It goes when its timer fires, not when an older one does.
	if gone := update(m, toastExpiredMsg{seq: m.toast.seq - 1}); gone.toast.text == "" {
		t.Error("an older timer cleared the notice")
	}
	gone := update(m, toastExpiredMsg{seq: m.toast.seq})
	if gone.toast.text != "" || !strings.Contains(lineWith(screenText(gone), "q quit"), "j/k move") {
		t.Errorf("after its time the status line is the help again: %q", lineWith(screenText(gone), "quit"))
	}
}

func TestNoticeTimerIsFiveSeconds(t *testing.T) {
	m := loaded(t, fleet(5), Options{}, 120, 40)
	nm, cmd := m.Update(NoticeMsg{Text: "hello"})
	if cmd == nil || nm.(Model).toast.text != "hello" {
		t.Fatal("a notice should show and start a timer")
	}
	if toastTime != 5e9 {
		t.Errorf("toastTime = %v", toastTime)
	}
}

func TestErrorNoticeStaysUntilAKey(t *testing.T) {
	m := loaded(t, fleet(50), Options{}, 120, 40)
	nm, cmd := m.Update(NoticeMsg{Text: "config reload failed: config.yaml:12: engine.throttle: 0 is below 1", Err: true})
	m = nm.(Model)
	if cmd != nil {
		t.Error("an error toast should not expire")
	}
	if !strings.Contains(screenText(m), "config reload failed") {
		t.Fatal("error not shown")
	}
	if !strings.Contains(m.View().Content, m.theme.Error.Render("config reload failed: config.yaml:12: engine.throttle: 0 is below 1")) {
		t.Error("the error is not in the error style")
	}
	m = update(m, toastExpiredMsg{seq: m.toast.seq})
	if m.toast.text == "" {
		t.Error("an error went away by itself")
	}
	// A key dismisses it and still does its job; esc only dismisses.
	j := update(m, keyPress("j"))
	if j.toast.text != "" || j.grid.cursor != 1 {
		t.Errorf("j: toast %q cursor %d", j.toast.text, j.grid.cursor)
	}
	f := update(m, keyPress("/"), keyPress("x"))
	f = update(f, keyPress("enter"), NoticeMsg{Text: "boom", Err: true}, keyPress("esc"))
	if f.toast.text != "" || f.grid.filter != "x" {
		t.Errorf("esc on an error: toast %q filter %q (the filter should stay)", f.toast.text, f.grid.filter)
	}
}

func TestThemeMsg(t *testing.T) {
	tm := startConsole(t, newHubClient(fleet(50)), Options{}, 80, 24)
	waitFor(t, tm, "WS-0001")
	tm.Send(ThemeMsg{Name: "ascii"})
	waitFor(t, tm, "+ 43/50 online")
	tm.Send(ThemeMsg{Name: "nope"})
	waitFor(t, tm, `unknown theme "nope"`)
	m := finish(t, tm)
	if m.theme.Name != "ascii" {
		t.Errorf("theme = %q, want ascii kept after a bad name", m.theme.Name)
	}
	m.toast = toast{}
	requireASCII(t, "screen after ThemeMsg", []byte(m.View().Content))

	nc := loaded(t, fleet(5), Options{NoColor: true}, 120, 40)
	nc = update(nc, ThemeMsg{Name: "light"})
	if nc.theme.Name != "light" || nc.theme.Color {
		t.Errorf("NoColor lost on a theme change: %q color %v", nc.theme.Name, nc.theme.Color)
	}
}

func TestBadThemeOptionSaysSo(t *testing.T) {
	m := loaded(t, fleet(5), Options{Theme: "solarized"}, 120, 40)
	if m.theme.Name != "default" || !strings.Contains(m.toast.text, `unknown theme "solarized"`) {
		t.Errorf("theme %q toast %q", m.theme.Name, m.toast.text)
	}
}

// Ten views (Notify, Patches and a PowerShell pane open): the tenth tab
// is 0 on the keyboard and in its label, and no tab after it claims a
// digit.
func TestTheTenthTabIsZero(t *testing.T) {
	for i, want := range []string{"1", "9", "0", ""} {
		idx := []int{0, 8, 9, 10}[i]
		if got := tabKey(idx); got != want {
			t.Errorf("tabKey(%d) = %q, want %q", idx, got, want)
		}
		if want != "" && tabForKey(want) != idx {
			t.Errorf("tabForKey(%q) = %d, want %d", want, tabForKey(want), idx)
		}
	}
	if tabForKey("a") != -1 || tabForKey("10") != -1 {
		t.Error("a non-digit key switched a tab")
	}
}
