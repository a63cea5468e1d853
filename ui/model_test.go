package ui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rmmhq/rmm/engine"
)

// These tests drive Model.Update directly, without a terminal.

func update(m Model, msgs ...tea.Msg) Model {
	for _, msg := range msgs {
		nm, _ := m.Update(msg)
		m = nm.(Model)
	}
	return m
}

// loaded returns a console of w x h that has received the snapshot of ds.
func loaded(tb testing.TB, ds []engine.DeviceState, opts Options, w, h int) Model {
	tb.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	return loadedWith(tb, newHubClient(ds), opts, w, h)
}

// loadedWith is loaded for any client.
func loadedWith(tb testing.TB, c Client, opts Options, w, h int) Model {
	tb.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	m := New(c, opts)
	tb.Cleanup(m.Close)
	return update(m, tea.WindowSizeMsg{Width: w, Height: h}, m.feed.subscribe())
}

func keys(names ...string) []tea.Msg {
	out := make([]tea.Msg, len(names))
	for i, n := range names {
		out[i] = keyPress(n)
	}
	return out
}

func TestASCIIThemeRendersOnlyASCIIInEveryState(t *testing.T) {
	opts := Options{Theme: "ascii", Title: "Contoso MSP", User: "alice", Role: "Admin"}
	big := loaded(t, fleet(300), opts, 80, 24)
	states := map[string]Model{
		"grid":             big,
		"help":             update(big, keyPress("?")),
		"typing a filter":  update(big, keys("/", "w", "s")...),
		"kept filter":      update(big, keys("/", "p", "a", "r", "enter")...),
		"no match":         update(big, keys("/", "z", "z", "z")...),
		"sorted desc":      update(big, keys("s", "s", "s")...),
		"last row":         update(big, keyPress("G")),
		"too small":        update(big, tea.WindowSizeMsg{Width: 60, Height: 20}),
		"empty fleet":      loaded(t, nil, opts, 80, 24),
		"sweeping":         update(big, updateMsg{update: engine.Update{Summary: engine.Summary{Devices: 300, Sweeping: true, Done: 120}}}),
		"loading":          update(New(newHubClient(nil), opts), tea.WindowSizeMsg{Width: 80, Height: 24}),
		"unicode hostname": loaded(t, []engine.DeviceState{{ID: 1, Hostname: "MÜNCHEN-SRV-WITH-A-LONG-NAME", Status: engine.StatusOnline}}, opts, 80, 24),
		"grouped, marked":  update(big, keys("b", "space", "space", "a")...),
		"palette":          update(big, keyPress(":")),
		"palette args":     update(big, append(keys(":"), typeText("sort cpu ")...)...),
		"filter error":     update(big, append(keys("/"), typeText("cpu>x")...)...),
		"detail":           withDetail(t, update(big, keyPress("enter"))),
		"detail loading":   update(big, keyPress("enter")),
		"settings":         update(loaded(t, fleet(10), Options{Theme: "ascii", Settings: testSettings()}, 80, 24), keyPress("3")),
		"no settings":      update(big, keyPress("3")),
		"error toast":      update(big, NoticeMsg{Text: "config reload failed", Err: true}),
		"help scrolled":    update(big, keyPress("?"), keyPress("G")),
	}
	for name, m := range fullStates(t, newFullClient(fleet(300), 0), opts, 80, 24) {
		states[name] = m
	}
	for name, m := range states {
		t.Run(name, func(t *testing.T) {
			out := []byte(m.View().Content)
			if name == "unicode hostname" {
				// The device's own name is data, not the theme's: only
				// the theme's glyphs must be ASCII.
				out = []byte(strings.ReplaceAll(string(out), "Ü", "U"))
			}
			requireASCII(t, name, out)
		})
	}
}

func TestEveryLineFitsTheTerminal(t *testing.T) {
	for _, theme := range []string{"default", "light", "high-contrast", "ascii"} {
		for _, size := range [][2]int{{80, 24}, {100, 30}, {120, 40}, {200, 60}} {
			m := loaded(t, fleet(500), Options{Theme: theme, User: "a-very-long-user-name@corp.contoso.com", Role: "Operator"}, size[0], size[1])
			m.opts.Settings = testSettings()
			m.settings.items = testSettings()
			states := []Model{m, update(m, keyPress("?")), update(m, keys("/", "x")...), update(m, keys("b", "a")...),
				update(m, keyPress(":")), withDetail(t, update(m, keyPress("enter"))), update(m, keyPress("3")),
				update(m, append(keys("/"), typeText(strings.Repeat("site:london ", 30))...)...),
				update(m, append(keys(":"), typeText("export csv /"+strings.Repeat("very-long-directory/", 20))...)...),
				update(m, NoticeMsg{Text: strings.Repeat("a long notice ", 30)})}
			for _, s := range fullStates(t, newFullClient(fleet(500), 0), Options{Theme: theme, User: "a-very-long-user-name@corp.contoso.com", Role: "Admin"}, size[0], size[1]) {
				states = append(states, s)
			}
			for _, s := range states {
				lines := strings.Split(s.View().Content, "\n")
				if len(lines) != size[1] {
					t.Errorf("%s %dx%d: %d lines, want %d", theme, size[0], size[1], len(lines), size[1])
				}
				for i, l := range lines {
					if w := ansi.StringWidth(l); w > size[0] {
						t.Errorf("%s %dx%d: line %d is %d cells: %q", theme, size[0], size[1], i, w, ansi.Strip(l))
					}
				}
			}
		}
	}
}

func TestNoColorOption(t *testing.T) {
	m := loaded(t, fleet(50), Options{NoColor: true}, 120, 40)
	for _, s := range []Model{m, update(m, keyPress("?"))} {
		v := s.View().Content
		if strings.Contains(v, "38;") || strings.Contains(v, "48;") {
			t.Fatalf("NoColor view has colour: %q", v[:200])
		}
		if !strings.Contains(v, "\x1b[1;7m") {
			t.Error("NoColor selection should be bold reverse")
		}
	}
}

func TestUnknownThemeFallsBackToDefault(t *testing.T) {
	if m := New(newHubClient(nil), Options{Theme: "nope"}); m.theme.Name != "default" {
		t.Errorf("theme = %q", m.theme.Name)
	}
}

func TestSortKeys(t *testing.T) {
	m := loaded(t, fleet(100), Options{}, 120, 40)
	m = update(m, keys("j", "j", "s")...)
	if m.grid.sortBy != ColSite || m.grid.sortDesc || m.grid.cursor != 0 {
		t.Errorf("s: sort=%v desc=%v cursor=%d; want SITE ascending from the top", m.grid.sortBy, m.grid.sortDesc, m.grid.cursor)
	}
	m = update(m, keys("s", "s")...)
	if m.grid.sortBy != ColCPU || !m.grid.sortDesc {
		t.Errorf("CPU should start busiest first, got desc=%v", m.grid.sortDesc)
	}
	m = update(m, keyPress("S"))
	if m.grid.sortDesc {
		t.Errorf("S should reverse")
	}
	if !strings.Contains(lineWith(screenText(m), "HOSTNAME"), "▲CPU") {
		t.Errorf("header should mark CPU ascending: %q", lineWith(screenText(m), "HOSTNAME"))
	}
	first := m.devices[m.grid.rows[0]]
	if first.CPUPct > m.devices[m.grid.rows[1]].CPUPct {
		t.Error("S did not reverse the order")
	}
}

func TestFeedCoalescesBursts(t *testing.T) {
	c := newHubClient(fleet(100))
	f := newFeed(c)
	defer f.close()
	snap := f.subscribe().(snapshotMsg)
	for i := 0; i < 1000; i++ {
		d := fleet(100)[i%100]
		d.CPUPct = float64(i % 100)
		c.publish(d)
	}
	msg := f.wait(snap.sub, time.Time{})().(updateMsg)
	if n := len(msg.update.Devices); n != 100 {
		t.Errorf("1000 events for 100 devices drained as %d states, want 100 (latest per device)", n)
	}
	// ID 1 was last published at i=900, with CPU 900%100 = 0; at i=0 it also had 0,
	// so check ID 2: last at i=901, CPU 1.
	if d := msg.update.Devices[1]; d.ID != 2 || d.CPUPct != 1 {
		t.Errorf("not the latest state: ID %d CPU %v, want ID 2 CPU 1", d.ID, d.CPUPct)
	}
}

func TestFeedStopsWaitingOnClose(t *testing.T) {
	f := newFeed(newHubClient(nil))
	snap := f.subscribe().(snapshotMsg)
	done := make(chan tea.Msg)
	go func() { done <- f.wait(snap.sub, time.Time{})() }()
	f.close()
	f.close() // twice is fine
	select {
	case msg := <-done:
		if msg != nil {
			t.Errorf("wait returned %T after close", msg)
		}
	case <-time.After(waitLong):
		t.Fatal("wait did not return after close: goroutine leak")
	}
	if f.subscribe() != nil {
		t.Error("a closed feed must not subscribe again")
	}
}

// withDetail runs the detail load the model asked for, as the program
// would.
func withDetail(t *testing.T, m Model) Model {
	t.Helper()
	if !m.detail.loading {
		t.Fatal("no detail load in flight")
	}
	return update(m, m.loadDetail()())
}

func tmSize(w, h int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: w, Height: h} }

// fullStates are the screens of a console on a fullClient: every view it
// adds, with loads done, a request running, the quit question, the
// help.
func fullStates(t *testing.T, c *fullClient, opts Options, w, h int) map[string]Model {
	t.Helper()
	m := loadedWith(t, c, opts, w, h)
	run := func(m Model, k string) Model {
		nm, cmd := m.Update(keyPress(k))
		m = nm.(Model)
		if cmd != nil {
			if msg, ok := cmd().(requestMsg); ok {
				m = update(m, msg)
			}
		}
		return m
	}
	detail := update(m, keyPress("2"), keyPress("j"), keyPress("j"))
	nm, cmd := detail.Update(keyPress("enter"))
	detail = update(nm.(Model), cmd())
	scheds := update(m, keyPress("4"))
	scheds = update(scheds, scheds.loadSchedules()())
	nm, cmd = m.Update(keyPress("5"))
	audit := update(nm.(Model), cmd())
	polling := update(m, keyPress("r"), keyPress("q"))
	return map[string]Model{
		"devices, full":        m,
		"alerts":               update(m, keyPress("2")),
		"alert selected":       update(m, keyPress("2"), keyPress("G")),
		"acked":                run(update(m, keyPress("2")), "a"),
		"alert detail":         detail,
		"alert detail bottom":  update(detail, keyPress("G")),
		"schedules":            scheds,
		"schedule failed":      update(scheds, keyPress("j")),
		"audit":                audit,
		"audit filter":         update(audit, append(keys("/"), typeText("ack")...)...),
		"audit no match":       update(audit, append(keys("/"), typeText("zzz")...)...),
		"quit question":        polling,
		"help, full":           update(m, keyPress("?")),
		"help, full, scrolled": update(m, keyPress("?"), keyPress("G")),
		"alerts loading":       update(New(c, opts), tmSize(w, h), keyPress("2")),
	}
}
