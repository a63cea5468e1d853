package ui

import (
	"slices"
	"strings"
	"testing"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// openAuditView switches to the audit view and runs its read.
func openAuditView(t *testing.T, m Model) Model {
	t.Helper()
	nm, cmd := m.Update(keyPress("5"))
	m = nm.(Model)
	if m.page != pageAudit || cmd == nil {
		t.Fatalf("5: page %d, read started %v", m.page, cmd != nil)
	}
	return update(m, cmd())
}

func TestAuditListsNewestFirst(t *testing.T) {
	c := newFullClient(fleet(20), engine.RoleOperator)
	m := openAuditView(t, loadedWith(t, c, Options{Role: "Operator"}, 120, 40))
	if got := c.sent(); !slices.Equal(got, []engine.Request{engine.ListAudit{Filter: store.AuditFilter{Limit: 500}}}) {
		t.Errorf("requests = %#v, want ListAudit of the newest 500", got)
	}
	var ids []int64
	for _, i := range m.audit.shown {
		ids = append(ids, m.audit.rows[i].ID)
	}
	if !slices.Equal(ids, []int64{4, 3, 2, 1}) {
		t.Errorf("rows = %v, want newest first", ids)
	}
	scr := screenText(m)
	for _, want := range []string{"TIME", "USER", "ROLE", "VIA", "FROM", "ACTION", "RESULT", "TARGETS",
		"2026-03-14 09:20:00  bob            Operator  ssh     10.1.2.4:40022  alerts.ack      success  alert 13",
		"2026-03-14 09:10:00  carol          Viewer    ssh     10.1.2.3:52114  alerts.ack      denied   alert 13",
		"bob (Operator) via ssh from 10.1.2.4:40022", "id=13 note=batch job, ends at 10:00", "1/4"} {
		if !strings.Contains(scr, want) {
			t.Errorf("audit view lacks %q:\n%s", want, scr)
		}
	}
	// r reads again.
	nm, cmd := m.Update(keyPress("r"))
	if cmd == nil {
		t.Fatal("r started no read")
	}
	update(nm.(Model), cmd())
	if n := len(c.sent()); n != 2 {
		t.Errorf("%d requests after r, want 2", n)
	}
}

func TestAuditFilter(t *testing.T) {
	m := openAuditView(t, loadedWith(t, newFullClient(fleet(20), 0), Options{}, 120, 40))
	m = update(m, keyPress("/"))
	m = update(m, typeText("DENIED carol")...)
	if !m.audit.typing || len(m.audit.shown) != 1 || m.audit.rows[m.audit.shown[0]].ID != 3 {
		t.Fatalf("typing %v, shown %v", m.audit.typing, m.audit.shown)
	}
	if l := lineWith(screenText(m), "1 of 4 match"); !strings.HasPrefix(l, " /DENIED carol") {
		t.Errorf("status line %q", l)
	}
	// Keys are text while typing: r does not refresh, q does not quit.
	m = update(m, typeText(" rq")...)
	if m.audit.filter != "DENIED carol rq" || m.quitting {
		t.Errorf("filter %q quitting %v", m.audit.filter, m.quitting)
	}
	m = update(m, keyPress("backspace"), keyPress("backspace"), keyPress("backspace"), keyPress("enter"))
	if m.audit.typing || m.audit.filter != "DENIED carol" {
		t.Errorf("enter keeps the filter: typing %v filter %q", m.audit.typing, m.audit.filter)
	}
	// esc clears a kept filter first, then leaves.
	m = update(m, keyPress("esc"))
	if m.audit.filter != "" || len(m.audit.shown) != 4 || m.page != pageAudit {
		t.Errorf("esc: filter %q shown %d page %d", m.audit.filter, len(m.audit.shown), m.page)
	}
	if m = update(m, keyPress("esc")); m.page != pageDevices {
		t.Errorf("second esc: page %d", m.page)
	}
	none := update(openAuditView(t, m), keyPress("/"))
	none = update(none, typeText("zzz")...)
	if !strings.Contains(screenText(none), `No audit rows match "zzz"`) {
		t.Errorf("no match:\n%s", screenText(none))
	}
}

func TestFilterAudit(t *testing.T) {
	text := []string{"alice\x00admin\x00devices.import", "carol\x00viewer\x00alerts.ack\x00denied", "bob\x00operator\x00alerts.ack"}
	tests := map[string][]int{"": {0, 1, 2}, "ACK": {1, 2}, "ack bob": {2}, "  ": {0, 1, 2}, "nobody": {}}
	for f, want := range tests {
		if got := FilterAudit(text, f); !slices.Equal(got, want) {
			t.Errorf("FilterAudit(%q) = %v, want %v", f, got, want)
		}
	}
}

func TestAuditIsHiddenFromViewersAndTheEngineSaysWhy(t *testing.T) {
	c := newFullClient(fleet(20), engine.RoleViewer)
	m := loadedWith(t, c, Options{Role: "Viewer"}, 120, 40)
	if tabs := strings.Split(screenText(m), "\n")[tabsY]; strings.Contains(tabs, "Audit") {
		t.Errorf("a Viewer's tab bar %q offers Audit", tabs)
	}
	// Typed anyway, it asks the engine, which refuses.
	m = runLine(t, m, "audit")
	if m.page != pageAudit || !m.toast.err || m.toast.text != "permission denied: Viewer may not audit.list" {
		t.Errorf("page %d toast %+v", m.page, m.toast)
	}
	scr := screenText(m)
	if !strings.Contains(scr, "audit log unavailable: permission denied: Viewer may not audit.list") ||
		!strings.Contains(strings.Split(scr, "\n")[tabsY], "5 Audit") {
		t.Errorf("the view should show the refusal under its own tab:\n%s", scr)
	}
}
