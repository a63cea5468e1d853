package ui

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

func TestAReportFromThePaletteIsWrittenAndTheToastSaysWhere(t *testing.T) {
	dir := t.TempDir()
	c := newExportClient(t, fleet(20), localAdmin, "")
	if _, err := c.db.UpsertDevices(context.Background(), []store.DeviceInput{{Hostname: "WS-0042", Site: "London"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	m := loadedWith(t, c, Options{ReportDir: dir, ReportLocation: time.UTC, Now: func() time.Time { return now }}, 120, 40)
	m = runLine(t, m, "report uptime csv")
	want := filepath.Join(dir, "rmm_uptime_2026-11-01_2026-11-30.csv")
	if m.toast.err || !strings.HasPrefix(m.toast.text, "uptime report (csv, ") || !strings.HasSuffix(m.toast.text, " written to "+want) {
		t.Fatalf("toast %+v", m.toast)
	}
	b, err := os.ReadFile(want)
	if err != nil || !strings.Contains(string(b), "WS-0042") {
		t.Fatalf("report file: %v\n%s", err, b)
	}
	audit, err := c.db.ListAudit(context.Background(), store.AuditFilter{Action: "reports.run", Result: store.AuditSuccess})
	if err != nil || len(audit) != 1 || audit[0].User != "tester" || audit[0].Details["type"] != "uptime" {
		t.Fatalf("audit %+v %v", audit, err)
	}
	for line, bad := range map[string]string{
		"report":                       "usage: :report TYPE",
		"report weather":               `report type "weather" is not one of`,
		"report uptime pdf x y":        `"y" is not a format, a period or a scope`,
		"report uptime site:a group:b": "give a site or a group, not both",
	} {
		m = runLine(t, m, line)
		if !m.toast.err || !strings.Contains(m.toast.text, bad) {
			t.Errorf(":%s: toast %q, want %q", line, m.toast.text, bad)
		}
	}
}

func TestAnSSHViewerGetsAReportInTheirExportDirectory(t *testing.T) {
	exports := t.TempDir()
	victor := engine.Identity{User: "victor", Role: engine.RoleViewer, Via: engine.ViaSSH, RemoteAddr: "127.0.0.1:40000"}
	c := newExportClient(t, fleet(30), victor, exports)
	if _, err := c.db.UpsertDevices(context.Background(), []store.DeviceInput{{Hostname: "WS-0042", Site: "London"}}); err != nil {
		t.Fatal(err)
	}
	m := loadedWith(t, c, Options{Role: "Viewer", ExportFetch: "scp -O -P 2222 victor@jumphost:"}, 120, 40)
	m = runLine(t, m, "report inventory xlsx sub/fleet.xlsx")
	if !m.toast.err || !strings.Contains(m.toast.text, "give a file name, not a path") {
		t.Fatalf("a path over SSH: %q", m.toast.text)
	}
	m = runLine(t, m, "report inventory xlsx 30d fleet.xlsx")
	want := "inventory report (xlsx, "
	if m.toast.err || !strings.HasPrefix(m.toast.text, want) ||
		!strings.HasSuffix(m.toast.text, "written to fleet.xlsx in your export directory; fetch: scp -O -P 2222 victor@jumphost:fleet.xlsx .") {
		t.Fatalf("toast %q", m.toast.text)
	}
	f, err := excelize.OpenFile(filepath.Join(exports, "victor", "fleet.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, _ := f.GetCellValue("Devices", "A2"); v != "WS-0042" {
		t.Fatalf("first device %q", v)
	}
}

func TestTheNotificationsViewListsTheOutboxAndRetriesAFailedMessage(t *testing.T) {
	c := newExportClient(t, fleet(20), localAdmin, "")
	ctx := context.Background()
	now := time.Now()
	ids, err := c.db.AddOutbox(ctx, []store.OutboxMessage{
		{Route: "ops", Channel: "teams-ops", Kind: "raised", AlertID: 7, State: store.OutboxPending,
			Payload: []byte(`{"kind":"raised","route":"ops","alerts":[{"id":7,"event":"raised","hostname":"WS-0007","type":"disk_used","severity":"Critical"}]}`)},
		{Route: "ops", Channel: "pager", Kind: "raised", AlertID: 7, State: store.OutboxPending, Payload: []byte(`{"kind":"raised"}`)},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := c.db.ClaimOutbox(ctx, now, time.Minute, 10)
	if err != nil || len(rows) != 2 {
		t.Fatalf("claim %v %v", rows, err)
	}
	if err := c.db.FinishOutbox(ctx, ids[0], store.OutboxOutcome{At: now, Sent: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.db.FinishOutbox(ctx, ids[1], store.OutboxOutcome{At: now, Err: "channel pager: the receiver answered 400 Bad Request"}); err != nil {
		t.Fatal(err)
	}
	m := loadedWith(t, c, Options{Role: "Admin"}, 120, 40)
	m = runLine(t, m, "notifications")
	screen := screenText(m)
	for _, want := range []string{"1 sent", "1 failed", "[rmm] RAISED Critical disk_used on WS-0007", "teams-ops",
		"the receiver answered 400 Bad Request", "R queues it again", "6 Notify"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the view lacks %q:\n%s", want, screen)
		}
	}
	// The newest (the failed one) is selected: R queues it again.
	nm, cmd := m.Update(keyPress("R"))
	m = nm.(Model)
	m = update(m, cmd())
	if m.toast.err || !strings.Contains(m.toast.text, "queued again") {
		t.Fatalf("toast %+v", m.toast)
	}
	got, err := c.db.ListOutbox(ctx, store.OutboxFilter{States: []string{store.OutboxPending}})
	if err != nil || len(got) != 1 || got[0].ID != ids[1] {
		t.Fatalf("pending after R: %+v %v", got, err)
	}
	if a, _ := c.db.ListAudit(ctx, store.AuditFilter{Action: "notify.retry", Result: store.AuditSuccess}); len(a) != 1 {
		t.Fatalf("retry audit %+v", a)
	}
}
