package ui

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/rmmhq/rmm/engine"
)

// These tests run the console in a real tea.Program (teatest) against a
// real engine.Hub. The terminal stream is a diff (only changed cells are
// rewritten), so waits look for text that appears whole; exact screens are
// checked on the final model's View.

const waitLong = 30 * time.Second // only stops a hung test: -race on a loaded machine slows everything

func startConsole(t *testing.T, c Client, opts Options, w, h int) *teatest.TestModel {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	tm := teatest.NewTestModel(t, New(c, opts), teatest.WithInitialTermSize(w, h))
	t.Cleanup(func() { _ = tm.Quit() })
	return tm
}

// waitFor waits until the terminal output has shown every one of want.
func waitFor(t *testing.T, tm *teatest.TestModel, want ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(out []byte) bool {
		for _, w := range want {
			if !bytes.Contains(out, []byte(w)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(waitLong), teatest.WithCheckInterval(10*time.Millisecond))
}

// finish quits (after every message sent so far) and returns the final model.
func finish(t *testing.T, tm *teatest.TestModel) Model {
	t.Helper()
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	return tm.FinalModel(t, teatest.WithFinalTimeout(waitLong)).(Model)
}

func screenText(m Model) string { return ansi.Strip(m.View().Content) }

func send(tm *teatest.TestModel, keys ...string) {
	for _, k := range keys {
		tm.Send(keyPress(k))
	}
}

func TestConsoleShowsDevicesFromClient(t *testing.T) {
	tm := startConsole(t, newHubClient(fleet(200)), Options{Title: "Contoso MSP", User: "alice", Role: "Operator"}, 120, 40)
	waitFor(t, tm, "Contoso MSP", "alice (Operator)", "172/200 online", "20 offline", "last sweep 12s ago (took 2.1s)",
		"HOSTNAME", "SITE", "STATUS", "CPU", "MEM", "DISK FREE", "LAST SEEN", "WS-0001", "Online", "Offline")
	m := finish(t, tm)
	scr := screenText(m)
	for _, want := range []string{"3.7%", "1/200", "j/k move  / filter  enter detail  space mark  : command  ? help  q quit",
		"LONDON-FILESERVER-CLUSTE…", "1 Devices", "2 Detail", "3 Settings", "OS", "Server 2019 Datacenter"} {
		if !strings.Contains(scr, want) {
			t.Errorf("screen lacks %q:\n%s", want, scr)
		}
	}
}

func TestEnginePublishUpdatesRowLive(t *testing.T) {
	c := newHubClient(fleet(200))
	tm := startConsole(t, c, Options{}, 120, 40)
	waitFor(t, tm, "WS-0007")

	// WS-0007 starts Unknown with no metrics; the engine polls it.
	d := fleet(200)[6]
	d.Status, d.HasMetrics, d.CPUPct, d.MemPct, d.DiskFreePct, d.LastSeen = engine.StatusOnline, true, 97.3, 41, 63, t0
	c.publish(d)
	waitFor(t, tm, "97.3%")

	scr := screenText(finish(t, tm))
	if !strings.Contains(scr, "173/200 online") {
		t.Errorf("header did not take the new summary:\n%s", scr)
	}
	line := lineWith(scr, "WS-0007")
	for _, want := range []string{"Online", "97.3%", "41.0%", "63.0%", "0s ago"} {
		if !strings.Contains(line, want) {
			t.Errorf("WS-0007 row %q lacks %q", line, want)
		}
	}
}

func lineWith(screen, s string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func TestSelectionFollowsItsDeviceThroughLiveResorts(t *testing.T) {
	ds := fleet(200)
	c := newHubClient(ds)
	tm := startConsole(t, c, Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "s", "s", "s", "j", "j", "j", "j", "j") // sort by CPU, busiest first; select the 6th row

	byCPU := slices.Clone(ds)
	SortDevices(byCPU, ColCPU, true)
	d := byCPU[5]
	d.CPUPct = 100 // now the busiest: it moves to the top
	c.publish(d)
	waitFor(t, tm, "100.0%")

	m := finish(t, tm)
	if m.grid.cursorID != d.ID || m.grid.cursor != 0 {
		t.Errorf("selection is on ID %d at row %d; want %s (ID %d) followed to row 0", m.grid.cursorID, m.grid.cursor, d.Hostname, d.ID)
	}
}

func TestKeysMoveTheSelection(t *testing.T) {
	// 80x24 leaves 19 rows on screen.
	tests := []struct {
		name   string
		keys   []string
		cursor int
		status string
	}{
		{"j moves down", []string{"j", "j", "j"}, 3, "4/200"},
		{"k moves back up", []string{"j", "j", "k"}, 1, "2/200"},
		{"arrows work too", []string{"down", "down", "up"}, 1, "2/200"},
		{"k at the top stays", []string{"k"}, 0, "1/200"},
		{"pgdown moves a page", []string{"j", "j", "j", "pgdown"}, 22, "23/200"},
		{"pgup comes back", []string{"pgdown", "pgdown", "pgup"}, 19, "20/200"},
		{"ctrl+d moves half a page", []string{"ctrl+d"}, 9, "10/200"},
		{"ctrl+u moves back half a page", []string{"ctrl+d", "ctrl+d", "ctrl+u"}, 9, "10/200"},
		{"G goes to the last device", []string{"G"}, 199, "200/200"},
		{"end too", []string{"end"}, 199, "200/200"},
		{"g goes back to the first", []string{"G", "g"}, 0, "1/200"},
		{"home too", []string{"end", "home"}, 0, "1/200"},
		{"pgdown stops at the end", []string{"G", "pgdown"}, 199, "200/200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := startConsole(t, newHubClient(fleet(200)), Options{}, 80, 24)
			waitFor(t, tm, "WS-0001")
			send(tm, tt.keys...)
			m := finish(t, tm)
			if m.grid.cursor != tt.cursor {
				t.Errorf("cursor = %d, want %d", m.grid.cursor, tt.cursor)
			}
			if m.grid.cursor < m.grid.offset || m.grid.cursor >= m.grid.offset+m.visibleRows() {
				t.Errorf("selected row %d is off screen (offset %d, %d rows)", m.grid.cursor, m.grid.offset, m.visibleRows())
			}
			scr := screenText(m)
			if !strings.Contains(lineWith(scr, "q quit"), tt.status) {
				t.Errorf("status line %q lacks %q", lineWith(scr, "q quit"), tt.status)
			}
		})
	}
}

func TestMouseWheelScrollsAndClickSelects(t *testing.T) {
	tm := startConsole(t, newHubClient(fleet(200)), Options{}, 80, 24)
	waitFor(t, tm, "WS-0001")
	tm.Send(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	tm.Send(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	tm.Send(tea.MouseClickMsg{Button: tea.MouseLeft, X: 10, Y: rowsTop + 4})
	m := finish(t, tm)
	if m.grid.offset != 2*wheelStep {
		t.Errorf("offset = %d after two wheel steps, want %d", m.grid.offset, 2*wheelStep)
	}
	if m.grid.cursor != 2*wheelStep+4 {
		t.Errorf("clicking the 5th row on screen selected row %d, want %d", m.grid.cursor, 2*wheelStep+4)
	}
}

func TestClickOnColumnTitleSorts(t *testing.T) {
	tm := startConsole(t, newHubClient(fleet(200)), Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	cpu := layoutColumns(120)[3]
	tm.Send(tea.MouseClickMsg{Button: tea.MouseLeft, X: cpu.x + 1, Y: gridTop})
	m := finish(t, tm)
	if m.grid.sortBy != ColCPU || !m.grid.sortDesc {
		t.Errorf("sort = %v desc=%v, want CPU busiest first", m.grid.sortBy, m.grid.sortDesc)
	}
}

func TestFilterNarrowsAndShowsCount(t *testing.T) {
	tm := startConsole(t, newHubClient(fleet(200)), Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "/")
	waitFor(t, tm, "200 of 200 match")
	send(tm, "P", "a", "R", "i", "s", "enter")
	m := finish(t, tm)
	scr := screenText(m)
	if m.grid.typing || m.grid.filter != "PaRis" {
		t.Errorf("after enter: typing=%v filter=%q, want the filter kept", m.grid.typing, m.grid.filter)
	}
	if !strings.Contains(scr, "40 of 200 match") {
		t.Errorf("no match count:\n%s", scr)
	}
	rows := 0
	for _, l := range strings.Split(scr, "\n")[rowsTop:] {
		if strings.Contains(l, "WS-") {
			rows++
			if !strings.Contains(l, "Paris") {
				t.Errorf("row %q does not match the filter", l)
			}
		}
	}
	if rows == 0 {
		t.Error("no rows shown")
	}
}

func TestFilterEscClears(t *testing.T) {
	tm := startConsole(t, newHubClient(fleet(200)), Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "/", "o", "f", "f", "backspace", "f", "esc")
	m := finish(t, tm)
	if m.grid.typing || m.grid.filter != "" || len(m.grid.rows) != 200 {
		t.Errorf("esc left typing=%v filter=%q rows=%d", m.grid.typing, m.grid.filter, len(m.grid.rows))
	}
}

func TestFilterKeepsKeysAsText(t *testing.T) {
	// While typing, q, s, j and ? are letters, not commands.
	tm := startConsole(t, newHubClient(fleet(200)), Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "/", "q", "s", "j", "?")
	m := finish(t, tm)
	if m.grid.filter != "qsj?" || m.showHelp || m.grid.sortBy != ColHostname {
		t.Errorf("filter=%q help=%v sort=%v", m.grid.filter, m.showHelp, m.grid.sortBy)
	}
}

func TestHelpOverlay(t *testing.T) {
	tm := startConsole(t, newHubClient(fleet(200)), Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "?")
	waitFor(t, tm, "Keys", "half page down", "reverse sort", "back / clear filter / close", "more below")
	send(tm, "G") // the help scrolls to its end
	waitFor(t, tm, "? or esc closes this help")
	send(tm, "esc")
	if m := finish(t, tm); m.showHelp {
		t.Error("esc did not close the help")
	}
}

func TestResizeBelowMinimumSaysSo(t *testing.T) {
	tm := startConsole(t, newHubClient(fleet(200)), Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	tm.Send(tea.WindowSizeMsg{Width: 60, Height: 20})
	waitFor(t, tm, "terminal too small: 60x20, need at least 80x24")
	tm.Send(tea.WindowSizeMsg{Width: 100, Height: 30})
	m := finish(t, tm)
	if scr := screenText(m); !strings.Contains(scr, "WS-0001") || len(strings.Split(scr, "\n")) != 30 {
		t.Errorf("growing back should reflow the grid to 30 lines:\n%s", scr)
	}
}

func TestEmptyFleetShowsHint(t *testing.T) {
	hint := "No devices yet. Import some: rmm import devices.csv  (or try: rmm --demo)"
	tm := startConsole(t, newHubClient(nil), Options{EmptyHint: hint}, 120, 40)
	waitFor(t, tm, hint)
	finish(t, tm)
}

func TestQuitLeavesTerminalAndUnsubscribes(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		t.Run(k, func(t *testing.T) {
			c := newHubClient(fleet(20))
			tm := startConsole(t, c, Options{}, 80, 24)
			waitFor(t, tm, "WS-0001")
			send(tm, k)
			tm.WaitFinished(t, teatest.WithFinalTimeout(waitLong))
			m := tm.FinalModel(t).(Model)
			select {
			case <-m.feed.done:
			default:
				t.Error("quitting did not close the engine subscription")
			}
			c.publish(fleet(20)[0]) // a closed subscription is skipped, never blocks
			out, _ := io.ReadAll(tm.FinalOutput(t))
			if !bytes.Contains(out, []byte(ansi.ResetModeAltScreenSaveCursor)) {
				t.Errorf("the alternate screen was not left on exit: %q", out[max(0, len(out)-200):])
			}
		})
	}
}

func TestGoldenScreens(t *testing.T) {
	// The first four are a console on a bare Client; the others have
	// everything the engine offers (alerts, health, schedules, the pool,
	// requests).
	tests := []struct {
		name  string
		theme string
		w, h  int
		keys  []string
		wait  string // text the last key's screen shows
		full  bool
		after []string // keys sent once wait is on screen (a view's rows are read in a command)
		role  string   // "" is Operator
	}{
		{"default_120x40", "default", 120, 40, []string{"j", "j"}, "", false, nil, ""},
		{"ascii_80x24", "ascii", 80, 24, []string{"j", "j"}, "", false, nil, ""},
		{"detail_120x40", "default", 120, 40, []string{"j", "j", "enter"}, "Custom fields", false, nil, ""},
		{"detail_ascii_80x24", "ascii", 80, 24, []string{"j", "j", "enter"}, "Identity", false, nil, ""},
		{"full_120x40", "default", 120, 40, []string{"j", "j"}, "", true, nil, ""},
		{"full_ascii_80x24", "ascii", 80, 24, []string{"j", "j"}, "", true, nil, ""},
		{"alerts_120x40", "default", 120, 40, []string{"2", "j"}, "SEVERITY", true, nil, ""},
		{"alerts_ascii_80x24", "ascii", 80, 24, []string{"2", "j"}, "SEVERITY", true, nil, ""},
		// enter opens the alert's device on its Alerts tab; right wraps to the Overview.
		{"alert_detail_120x40", "default", 120, 40, []string{"2", "j", "j", "j", "enter", "right"}, "availability", true, nil, ""},
		{"health_ascii_80x24", "ascii", 80, 24, []string{"2", "j", "j", "j", "enter", "right"}, "availability", true, nil, ""},
		{"schedules_120x40", "default", 120, 40, []string{"4"}, "daily 05:00", true, []string{"j"}, ""},
		{"schedules_ascii_80x24", "ascii", 80, 24, []string{"4"}, "daily 05:00", true, []string{"j"}, ""},
		{"audit_120x40", "default", 120, 40, []string{"5"}, "devices.import", true, []string{"j"}, ""},
		{"audit_ascii_80x24", "ascii", 80, 24, []string{"5"}, "devices.import", true, []string{"j"}, ""},
		// A Viewer: the read-only badge, and no request keys offered.
		{"viewer_ascii_80x24", "ascii", 80, 24, []string{"j", "j"}, "", true, nil, "Viewer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			role := engine.RoleOperator
			if tt.role != "" {
				r, err := engine.ParseRole(tt.role)
				if err != nil {
					t.Fatal(err)
				}
				role = r
			}
			var c Client = newHubClient(detailFleet())
			if tt.full {
				c = newFullClient(detailFleet(), role)
			}
			tm := startConsole(t, c, Options{Theme: tt.theme, Title: "Contoso MSP", User: "alice", Role: role.String()}, tt.w, tt.h)
			waitFor(t, tm, "WS-0001")
			send(tm, tt.keys...)
			if tt.wait != "" {
				waitFor(t, tm, tt.wait)
			}
			send(tm, tt.after...)
			m := finish(t, tm)
			content := m.View().Content
			if tt.theme == "ascii" {
				requireASCII(t, "view", []byte(content))
				out, _ := io.ReadAll(tm.FinalOutput(t))
				requireASCII(t, "terminal output", out)
			}
			golden.RequireEqual(t, ansi.Strip(content))
			t.Run("ansi", func(t *testing.T) { golden.RequireEqual(t, content) })
		})
	}
}

func requireASCII(t *testing.T, what string, b []byte) {
	t.Helper()
	for i, c := range b {
		if c >= 0x80 {
			t.Fatalf("%s has non-ASCII byte %#x at %d: %q", what, c, i, b[max(0, i-40):min(len(b), i+40)])
		}
	}
}
