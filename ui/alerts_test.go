package ui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
)

func alertIDs(as []engine.Alert) []int64 {
	out := make([]int64, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

func TestAlertsViewSortsBySeverityThenAgeAndShowsCounts(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(200), 0), Options{Role: "Operator"}, 120, 40)
	m = update(m, keyPress("2"))
	if m.page != pageAlerts {
		t.Fatalf("2 opened page %d, want the alerts view", m.page)
	}
	// Critical newest first, then High, the acknowledged Medium, Low.
	if got, want := alertIDs(m.alerts.list), []int64{12, 16, 15, 11, 13, 14}; !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
	scr := screenText(m)
	if fleet := strings.Split(scr, "\n")[fleetY]; !strings.Contains(fleet, "◆ 2 critical, 2 high, 1 low") {
		t.Errorf("header %q lacks the counts of the active alerts", fleet)
	}
	for _, want := range []string{"SEVERITY", "STATE", "HOST", "WHAT", "MESSAGE", "COUNT", "AGE",
		"◆ Critical  Active  WS-0005  disk_used C:", "■ Medium    Acked   WS-0008  cpu_high", "▪ Low       Active  WS-0010  pending_reboot",
		"40m ago", "1/6"} {
		if !strings.Contains(scr, want) {
			t.Errorf("alerts view lacks %q:\n%s", want, scr)
		}
	}
	// The selected alert in full, with its acknowledgement.
	m = update(m, keys("j", "j", "j", "j")...)
	scr = screenText(m)
	for _, want := range []string{"WS-0008  cpu_high  ■ Medium  Acknowledged  alert 13, seen 3 times",
		"acknowledged by bob 10m ago: batch job, ends at 10:00"} {
		if !strings.Contains(scr, want) {
			t.Errorf("footer lacks %q:\n%s", want, scr)
		}
	}
}

func TestAlertCountsText(t *testing.T) {
	tests := []struct {
		counts map[engine.Severity]int
		want   string
	}{
		{map[engine.Severity]int{engine.SeverityHigh: 5, engine.SeverityCritical: 2, engine.SeverityMedium: 1}, "2 critical, 5 high, 1 medium"},
		{map[engine.Severity]int{engine.SeverityCritical: 0, engine.SeverityInfo: 1200}, "1,200 info"},
		{map[engine.Severity]int{engine.SeverityLow: 0}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := AlertCountsText(tt.counts); got != tt.want {
			t.Errorf("AlertCountsText(%v) = %q, want %q", tt.counts, got, tt.want)
		}
	}
}

func TestAckSendsTheSelectedAlertAndTheViewFollowsLive(t *testing.T) {
	c := newFullClient(fleet(200), engine.RoleOperator)
	tm := startConsole(t, c, Options{Role: "Operator"}, 120, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "2", "j", "a", "enter") // WS-0012 disk_used D:, no note
	// Waits on what the console sent, not on the toast: the renderer
	// writes only the cells that changed, so a toast over the prompt's
	// cells never appears whole in the output.
	waitUntil(t, "the ack sent", func() bool { return len(c.sent()) == 1 })
	settled(t, c)               // the engine's update that follows
	send(tm, "j", "x", "enter") // the selection stayed on 16 through the refresh: j is 15
	waitUntil(t, "the resolve sent", func() bool { return len(c.sent()) == 2 })
	settled(t, c)
	m := finish(t, tm)
	want := []engine.Request{engine.AckAlert{ID: 16}, engine.ResolveAlert{ID: 15}}
	if got := c.sent(); !slices.Equal(got, want) {
		t.Errorf("requests = %#v, want %#v", got, want)
	}
	if got := alertIDs(m.alerts.list); slices.Contains(got, 15) || len(got) != 5 {
		t.Errorf("alerts after resolve = %v", got)
	}
	if l := lineWith(screenText(m), "disk_used D:"); !strings.Contains(l, "Acked") {
		t.Errorf("alert 16 not shown acknowledged: %q", l)
	}
	if h := strings.Split(screenText(m), "\n")[fleetY]; !strings.Contains(h, "1 critical, 1 high, 1 low") {
		t.Errorf("header counts not refreshed: %q", h)
	}
}

func TestAlertEnterOpensItsDeviceAndEscReturns(t *testing.T) {
	m := loadedWith(t, newFullClient(detailFleet(), 0), Options{}, 120, 40)
	m = update(m, keyPress("2"), keyPress("j"), keyPress("j"), keyPress("j")) // WS-0003 offline
	nm, cmd := m.Update(keyPress("enter"))
	m = update(nm.(Model), cmd())
	if m.page != pageDetail || m.detail.id != 3 {
		t.Fatalf("enter: page %d device %d, want WS-0003's detail", m.page, m.detail.id)
	}
	scr := screenText(m)
	if !strings.Contains(scr, "Detail: WS-0003") || !strings.Contains(scr, "2 polls in a row failed: connection refused") {
		t.Errorf("detail lacks the device or its alert:\n%s", scr)
	}
	if back := update(m, keyPress("esc")); back.page != pageAlerts || back.alerts.selID != 11 {
		t.Errorf("esc: page %d selected alert %d, want back on alert 11", back.page, back.alerts.selID)
	}
}

func TestAlertsViewWithNoAlerts(t *testing.T) {
	c := newFullClient(fleet(20), 0)
	c.alerts = nil
	m := loadedWith(t, c, Options{}, 120, 40)
	m = update(m, keyPress("2"))
	scr := screenText(m)
	if !strings.Contains(scr, "No unresolved alerts.") || !strings.Contains(strings.Split(scr, "\n")[fleetY], "no active alerts") {
		t.Errorf("an empty alert list should say so:\n%s", scr)
	}
	if m = update(m, keyPress("a")); len(m.work) != 0 {
		t.Error("ack with nothing selected sent a request")
	}
}

func TestAlertCursorStaysOnTheMostUrgentUntilPicked(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(20), 0), Options{}, 120, 40)
	m = update(m, keyPress("2"))
	newer := engine.Alert{ID: 99, DeviceID: 1, Hostname: "WS-0001", Type: engine.AlertTypeCPU, Severity: engine.SeverityCritical,
		State: engine.AlertActive, Message: "CPU 99% at or above critical 95% for 5m", Count: 1, FirstSeen: t0, LastSeen: t0}
	refresh := func(m Model, as []engine.Alert) Model {
		as = slices.Clone(as)
		engine.SortAlerts(as)
		return update(m, updateMsg{live: live{read: true, hasAlerts: true, alerts: as}})
	}
	fresh := refresh(m, append(testAlerts(), newer))
	if a, _ := fresh.alerts.selected(); a.ID != 99 {
		t.Errorf("before any pick the cursor is on alert %d, want the newest critical (99)", a.ID)
	}
	picked := update(m, keyPress("j"), keyPress("j")) // alert 15
	picked = refresh(picked, append(testAlerts(), newer))
	if a, _ := picked.alerts.selected(); a.ID != 15 {
		t.Errorf("after a pick the cursor is on alert %d, want 15 followed", a.ID)
	}
	gone := slices.DeleteFunc(testAlerts(), func(a engine.Alert) bool { return a.ID == 15 })
	picked = refresh(picked, gone)
	if a, _ := picked.alerts.selected(); picked.alerts.selID != a.ID {
		t.Errorf("the picked alert went: selection %d, cursor on %d", picked.alerts.selID, a.ID)
	}
}

// Newcomer: the alerts view had no filter, sort or marks, so no bulk
// acknowledge; enter opened the device on the last-used tab. Now: / with
// the alert grammar and a live count, s sorts, ctrl+a marks what is
// shown, a acknowledges the marked ones with a note in one request, z
// snoozes for a time, and enter opens the device on its Alerts tab.
func TestTheAlertsViewFiltersSortsMarksAndChangesInBulk(t *testing.T) {
	c := newFullClient(fleet(200), engine.RoleOperator)
	tm := startConsole(t, c, Options{Role: "Operator", Now: time.Now}, 140, 40)
	waitFor(t, tm, "WS-0001")
	send(tm, "2", "/")
	for _, msg := range typeText("host:WS-0005") {
		tm.Send(msg)
	}
	waitFor(t, tm, "2 of 6 alerts")
	send(tm, "enter", "ctrl+a") // keep the filter, mark both
	waitFor(t, tm, "2 marked")
	send(tm, "a")
	waitFor(t, tm, "acknowledge 2 alerts, note:")
	for _, msg := range typeText("ticket 1234") {
		tm.Send(msg)
	}
	send(tm, "enter")
	bulkSent := func(n int) func() bool {
		return func() bool {
			k := 0
			for _, r := range c.sent() {
				if _, ok := r.(engine.ChangeAlerts); ok {
					k++
				}
			}
			return k >= n
		}
	}
	waitUntil(t, "the bulk acknowledge", bulkSent(1))

	send(tm, "esc") // the filter goes: all six again
	waitFor(t, tm, "WS-0012")
	send(tm, "s", "s") // severity, then host
	waitFor(t, tm, "sorted by host asc")
	send(tm, "g", "z")
	waitFor(t, tm, "snooze alert")
	send(tm, "ctrl+u")
	for _, msg := range typeText("2h waiting for the patch window") {
		tm.Send(msg)
	}
	send(tm, "enter")
	waitUntil(t, "the snooze", bulkSent(2))
	send(tm, "enter") // the first alert by host: WS-0003's, on its Alerts tab
	waitFor(t, tm, "[Alerts]")
	m := finish(t, tm)
	if m.page != pageDetail || detailTabs()[m.detail.tab].name != "Alerts" || m.detail.hostname != "WS-0003" {
		t.Errorf("enter opened %v tab %d of %s, want WS-0003's Alerts tab", m.page, m.detail.tab, m.detail.hostname)
	}
	var bulk []engine.ChangeAlerts
	for _, r := range c.sent() {
		if ch, ok := r.(engine.ChangeAlerts); ok {
			bulk = append(bulk, ch)
		}
	}
	if len(bulk) != 2 || bulk[0].Op != engine.AlertOpAck || !slices.Equal(sortedIDs(bulk[0].IDs), []int64{12, 15}) ||
		bulk[0].Note != "ticket 1234" || bulk[1].Op != engine.AlertOpSnooze || bulk[1].For != 2*time.Hour ||
		bulk[1].Note != "waiting for the patch window" || !slices.Equal(bulk[1].IDs, []int64{11}) {
		t.Errorf("bulk requests %+v", bulk)
	}
}

func sortedIDs(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func TestAnAlertFilterErrorIsSaidAndMatchesNothing(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(20), 0), Options{}, 120, 40)
	m = update(m, keyPress("2"), keyPress("/"))
	m = update(m, typeText("colour:red")...)
	if scr := screenText(m); !strings.Contains(scr, `unknown field "colour"`) || len(m.alerts.shown) != 0 {
		t.Errorf("a bad filter: %d shown\n%s", len(m.alerts.shown), scr)
	}
}

func TestABulkChangeSaysHowManyAlertsChangedAndWhichFailed(t *testing.T) {
	m := loadedWith(t, newFullClient(fleet(20), engine.RoleOperator), Options{}, 120, 40)
	req := engine.ChangeAlerts{Op: engine.AlertOpAck, IDs: []int64{12, 15, 16}, Note: "x"}
	m.work = []work{{id: 7, req: req}}
	res := engine.AlertChanges{Changed: []engine.Alert{{ID: 12}, {ID: 15}}, Failed: []engine.AlertFailure{{ID: 16, Error: "acknowledge alert 16: already acknowledged"}}}
	m = update(m, requestMsg{id: 7, req: req, res: res})
	if !m.toast.err || m.toast.text != "acknowledged 2 alerts; 1 failed: acknowledge alert 16: already acknowledged" {
		t.Errorf("toast %+v", m.toast)
	}
}

// A Viewer (--read-only, an SSH viewer) filters and sorts the alerts like
// anyone, but a, x and z open no note prompt and send nothing: they say
// which role the change needs.
func TestAViewerFiltersAlertsButChangesNone(t *testing.T) {
	c := newFullClient(fleet(200), engine.RoleViewer)
	tm := startConsole(t, c, Options{Role: "Viewer", Now: time.Now}, 140, 40)
	waitFor(t, tm, "WS-0001", "[READ-ONLY]")
	send(tm, "2", "/")
	for _, msg := range typeText("sev:crit") {
		tm.Send(msg)
	}
	waitFor(t, tm, "2 of 6 alerts")
	send(tm, "enter", "ctrl+a", "a")
	waitFor(t, tm, "acknowledging an alert needs the Operator role (you are Viewer)")
	send(tm, "x", "z")
	m := finish(t, tm)
	if m.alerts.prompt != nil {
		t.Error("a Viewer got a note prompt")
	}
	for _, r := range c.sent() {
		if r.Permission() == engine.PermAlertsEdit {
			t.Errorf("a Viewer's console sent %T", r)
		}
	}
	if len(m.alerts.marks) != 2 || m.alerts.filter != "sev:crit" {
		t.Errorf("marks %v, filter %q: a Viewer may still select", m.alerts.marks, m.alerts.filter)
	}
}
