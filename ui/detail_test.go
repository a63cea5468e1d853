package ui

import (
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rmmhq/rmm/engine"
)

// longError is an offline device's last error, longer than any screen.
const longError = "poll WS-0003: connect 10.20.0.4:5986: dial tcp 10.20.0.4:5986: connect: connection refused " +
	"(the host did not answer on the WinRM HTTPS port; check that WinRM is enabled and that the firewall allows 5986)"

// detailFleet is fleet(200) with WS-0003 (offline) carrying longError.
func detailFleet() []engine.DeviceState {
	ds := fleet(200)
	ds[2].LastError = longError
	return ds
}

func TestDetailOpensOnEnterAndEscReturns(t *testing.T) {
	c := newHubClient(detailFleet())
	tm := startConsole(t, c, Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "j", "j", "enter") // WS-0003
	waitFor(t, tm, "Detail: WS-0003", "ws-0003.corp.contoso.com", "10.20.0.4", "00:15:5D:00:00:03",
		"https://10.20.0.4:5986/wsman", "https, port 5986", "Server 2016 Standard, build 10.0.14393",
		"Last error", "connection refused", "firewall allows 5986", "Last 24 hours", "avg", "24h ago", "Custom fields", "it-ops")
	m := finish(t, tm)
	scr := screenText(m)
	if m.page != pageDetail || m.detail.id != 3 {
		t.Fatalf("page %d device %d", m.page, m.detail.id)
	}
	for _, want := range []string{"○ Offline", "sql", "finance", "(the default credential)"} {
		if !strings.Contains(scr, want) {
			t.Errorf("detail lacks %q:\n%s", want, scr)
		}
	}
	// The whole error, wrapped: every word of it is on screen.
	flat := strings.Join(strings.Fields(scr), " ")
	if !strings.Contains(flat, strings.Join(strings.Fields(longError), " ")) {
		t.Errorf("the last error is not shown in full:\n%s", scr)
	}
	cpu := lineWith(scr, " CPU  ")
	if !strings.ContainsAny(cpu, "▁▂▃▄▅▆▇█") {
		t.Errorf("no CPU sparkline: %q", cpu)
	}
	if !strings.ContainsAny(lineWith(scr, " MEM  "), "▁▂▃▄▅▆▇█") {
		t.Errorf("no memory sparkline: %q", lineWith(scr, " MEM  "))
	}
	if got := c.historyCalls.Load(); got != 2 {
		t.Errorf("History called %d times, want CPU and memory once each", got)
	}

}

func TestDetailEscReturnsToTheGrid(t *testing.T) {
	tm := startConsole(t, newHubClient(detailFleet()), Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "j", "j", "enter")
	waitFor(t, tm, "Custom fields")
	send(tm, "esc")
	waitFor(t, tm, "HOSTNAME", "DISK FREE")
	m := finish(t, tm)
	if m.page != pageDevices || m.grid.cursor != 2 {
		t.Errorf("esc: page %d cursor %d, want the grid on the same row", m.page, m.grid.cursor)
	}
	if l := lineWith(screenText(m), "WS-0003"); !strings.HasPrefix(l, "▌") {
		t.Errorf("WS-0003 should still be selected: %q", l)
	}
}

func TestDetailLoadsInACommandNotInUpdate(t *testing.T) {
	c := newHubClient(fleet(20))
	m := loaded(t, fleet(20), Options{}, 120, 40)
	m.feed.client = c
	nm, cmd := m.Update(keyPress("enter"))
	m = nm.(Model)
	if cmd == nil || c.detailCalls.Load() != 0 || c.historyCalls.Load() != 0 {
		t.Fatalf("enter: cmd %v, %d Detail and %d History calls made in Update", cmd != nil, c.detailCalls.Load(), c.historyCalls.Load())
	}
	if !strings.Contains(screenText(m), "loading") {
		t.Error("the view should say it is loading")
	}
	m = update(m, cmd())
	if !m.detail.loaded || c.detailCalls.Load() != 1 {
		t.Errorf("after the command: loaded %v, %d Detail calls", m.detail.loaded, c.detailCalls.Load())
	}
}

func TestDetailRefreshesWhenTheDeviceChanges(t *testing.T) {
	c := newHubClient(fleet(20))
	tm := startConsole(t, c, Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "j", "enter") // WS-0001
	waitFor(t, tm, "Custom fields")
	calls := c.detailCalls.Load()

	d := fleet(20)[0]
	d.CPUPct, d.LastSeen = 99.5, t0
	c.publish(d)
	waitFor(t, tm, "99.5%")
	deadline := time.Now().Add(waitLong)
	for c.detailCalls.Load() != calls+1 {
		if time.Now().After(deadline) {
			t.Fatalf("Detail called %d times after the change, want %d", c.detailCalls.Load(), calls+1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	m := finish(t, tm)
	if got := c.detailCalls.Load(); got != calls+1 {
		t.Errorf("Detail called %d times after the change, want %d", got, calls+1)
	}
	if !strings.Contains(lineWith(screenText(m), "Memory"), "99.5%") {
		t.Errorf("live CPU not shown: %q", lineWith(screenText(m), "Memory"))
	}
}

// Whether an engine update reloads the detail is decided in Update, so
// it is checked there, without a clock: another device changing starts
// no load; the detail device changing starts one.
func TestOnlyTheDetailDeviceChangingReloadsTheDetail(t *testing.T) {
	c := newHubClient(fleet(20))
	m := loaded(t, fleet(20), Options{}, 120, 40)
	m.feed.client = c
	m = update(m, keyPress("j"))
	nm, cmd := m.Update(keyPress("enter")) // WS-0001
	m = update(nm.(Model), cmd())
	if !m.detail.loaded || m.detail.loading {
		t.Fatalf("detail not loaded: %+v", m.detail)
	}
	seq := m.detail.seq
	sum := summarize(fleet(20))

	other := fleet(20)[5]
	other.CPUPct = 1
	m = update(m, updateMsg{update: engine.Update{Devices: []engine.DeviceState{other}, Summary: sum}})
	if m.detail.seq != seq || m.detail.loading || m.detail.dirty {
		t.Errorf("another device changed: load %d -> %d, loading %v, dirty %v; want no load", seq, m.detail.seq, m.detail.loading, m.detail.dirty)
	}
	d := fleet(20)[0]
	d.CPUPct = 99.5
	m = update(m, updateMsg{update: engine.Update{Devices: []engine.DeviceState{d}, Summary: sum}})
	if m.detail.seq != seq+1 || !m.detail.loading {
		t.Errorf("the detail device changed: load %d -> %d, loading %v; want a new load", seq, m.detail.seq, m.detail.loading)
	}
}

func TestDetailShowsHistoryErrorsAndGoneDevices(t *testing.T) {
	c := newHubClient(fleet(20))
	c.historyErr = errors.New("history of device 1 cpu_pct: database is locked")
	m := loaded(t, fleet(20), Options{}, 120, 40)
	m.feed.client = c
	m = update(m, keyPress("j"))
	nm, cmd := m.Update(keyPress("enter"))
	m = update(nm.(Model), cmd())
	scr := screenText(m)
	if !strings.Contains(scr, "history unavailable: history of device 1 cpu_pct: database is locked") {
		t.Errorf("no history error:\n%s", scr)
	}
	m = update(m, updateMsg{update: engine.Update{Removed: []int64{1}, Summary: summarize(fleet(19))}})
	if !strings.Contains(screenText(m), "this device no longer exists") {
		t.Errorf("a removed device should say so:\n%s", screenText(m))
	}
}

func TestDetailScrollsAt80x24(t *testing.T) {
	m := loaded(t, detailFleet(), Options{Theme: "ascii"}, 80, 24)
	m = update(m, keyPress("j"), keyPress("j"))
	nm, cmd := m.Update(keyPress("enter"))
	m = update(nm.(Model), cmd())
	scr := screenText(m)
	if !strings.Contains(scr, "more below") || strings.Contains(scr, "Custom fields") {
		t.Fatalf("at 80x24 the detail should scroll:\n%s", scr)
	}
	requireASCII(t, "detail", []byte(m.View().Content))
	if !strings.ContainsAny(lineWith(scr, " CPU  "), "_.-=+*#") {
		t.Errorf("no ASCII sparkline: %q", lineWith(scr, " CPU  "))
	}
	m = update(m, keyPress("G"))
	if scr := screenText(m); !strings.Contains(scr, "Custom fields") || strings.Contains(scr, "more below") {
		t.Errorf("G should scroll to the end:\n%s", scr)
	}
	m = update(m, tea.MouseWheelMsg{Button: tea.MouseWheelUp})
	if m.detail.offset == 0 {
		t.Error("the wheel should scroll the detail")
	}
}

func TestDetailOfAnEmptyGridIsAnError(t *testing.T) {
	m := loaded(t, nil, Options{}, 120, 40)
	m = update(m, keyPress("2"))
	if m.page != pageDevices || !m.toast.err || !strings.Contains(m.toast.text, "no device selected") {
		t.Errorf("page %d toast %+v", m.page, m.toast)
	}
}

func TestSparkline(t *testing.T) {
	since := t0.Add(-4 * time.Hour)
	pts := []engine.MetricPoint{
		{At: since.Add(10 * time.Minute), Value: 0},
		{At: since.Add(70 * time.Minute), Value: 50},
		{At: since.Add(80 * time.Minute), Value: 70}, // same cell: averaged to 60
		{At: since.Add(190 * time.Minute), Value: 100},
		{At: since.Add(-time.Hour), Value: 100}, // before the span: ignored
	}
	levels := []string{"_", ".", "-", "=", "+", "*", "#"}
	// Hour cells: 0 is the lowest level, not a gap; 50 and 70 average to
	// 60, level round(3.6) = 4; the third hour has no samples; 100 is
	// the highest.
	if got := Sparkline(pts, since, t0, 4, levels); got != "_+ #" {
		t.Errorf("Sparkline = %q, want %q", got, "_+ #")
	}
	if got := Sparkline(nil, since, t0, 5, levels); got != "     " {
		t.Errorf("no points = %q, want blanks", got)
	}
	if got := Sparkline(pts, since, t0, 0, levels); got != "" {
		t.Errorf("zero width = %q", got)
	}
}

func TestWrapText(t *testing.T) {
	got := wrapText("connect: connection refused\tby host\nsecond line", 12)
	want := []string{"connect:", "connection", "refused by", "host", "second line"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("wrapText = %q, want %q", got, want)
	}
}

func TestDetailShowsHealthBreakdownWithNAParts(t *testing.T) {
	c := newFullClient(detailFleet(), 0)
	tm := startConsole(t, c, Options{}, 120, 40)
	waitFor(t, tm, "WS-0001")
	// WS-0027: CPU 99.9% (critical), 259 of 288 polls worked, no inventory.
	send(tm, ":")
	tm.Type("filter WS-0027")
	send(tm, "enter", "enter")
	waitFor(t, tm, "Detail: WS-0027", "Health", "Identity")
	m := finish(t, tm)
	scr := screenText(m)
	for _, want := range []string{
		"Score         74/100  Warning  (37 of the 50 points with data; parts without data are left out)",
		"availability  22/25  259 of 288 polls in the last 24h worked (90%)",
		"performance   15/25  CPU 100% at or above critical 95%",
		"security        n/a  no data yet (inventory not collected)",
		"compliance      n/a  no data yet (inventory not collected)",
	} {
		if !strings.Contains(scr, want) {
			t.Errorf("detail lacks %q:\n%s", want, scr)
		}
	}
	if !strings.Contains(lineWith(scr, "Alerts"), "Alerts") || !strings.Contains(scr, " none") {
		t.Errorf("a device without alerts should say none:\n%s", scr)
	}
}

func TestDetailOfAnOfflineDeviceExplainsItsZero(t *testing.T) {
	m := loadedWith(t, newFullClient(detailFleet(), 0), Options{}, 120, 60)
	m = update(m, keyPress("j"), keyPress("j"))
	nm, cmd := m.Update(keyPress("enter"))
	m = update(nm.(Model), cmd())
	scr := screenText(m)
	for _, want := range []string{"Score         0/100  Offline", "availability  0/25  offline, last seen 3h ago",
		"performance    n/a  no current data (device offline)", "▲ High      Active  2 polls in a row failed: connection refused"} {
		if !strings.Contains(scr, want) {
			t.Errorf("detail lacks %q:\n%s", want, scr)
		}
	}
}
