package ui

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// userClient is the engine as a front end gives it to the console: every
// read, and Do bound to one identity (as sshserve's session client and
// main's local wrapper do).
type userClient struct {
	*engine.Engine
	id engine.Identity
}

func (c userClient) Do(ctx context.Context, r engine.Request) (any, error) {
	return c.Engine.Do(ctx, c.id, r)
}

// TestAckThroughARealEngine runs the console on engine.New over a real
// SQLite store: an alert raised through the engine's own API is listed,
// acknowledged with a, the engine's update refreshes the view, and the
// audit log (read back through the audit view) has the row.
func TestAckThroughARealEngine(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	eng, err := engine.New(ctx, db, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	admin := engine.Identity{User: "tester", Role: engine.RoleAdmin, Via: engine.ViaLocal}
	if _, err := eng.Do(ctx, admin, engine.ImportDevices{Source: "test", Devices: []store.DeviceInput{{Hostname: "WS-0042", Site: "London"}}}); err != nil {
		t.Fatal(err)
	}
	id := eng.Devices()[0].ID
	now := time.Now().UTC()
	if err := eng.ObserveFacts(ctx, id, engine.HostFacts{CollectedAt: now, SignaturesUpdated: now.Add(-10 * 24 * time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	if as := eng.ActiveAlerts(); len(as) != 1 || as[0].State != engine.AlertActive {
		t.Fatalf("alerts after ObserveFacts: %+v", as)
	}

	tm := startConsole(t, userClient{eng, admin}, Options{Role: "Admin", Now: time.Now}, 120, 40)
	waitFor(t, tm, "WS-0042", "1 high")
	send(tm, "2")
	waitFor(t, tm, "defender_stale", "Defender signatures 10d old (limit 3d)")
	send(tm, "a")
	waitFor(t, tm, "acknowledge alert", "note:")
	for _, msg := range typeText("on it") {
		tm.Send(msg)
	}
	send(tm, "enter")
	// The toast reuses the prompt's cells ("acknowledge..."): wait on the engine.
	waitUntil(t, "the ack", func() bool {
		as := eng.ActiveAlerts()
		return len(as) == 1 && as[0].State == engine.AlertAcknowledged && as[0].AckNote == "on it"
	})
	time.Sleep(3 * minUpdateGap) // the engine's update after the ack
	send(tm, "5")
	waitFor(t, tm, "alerts.ack")
	m := finish(t, tm)
	if l := lineWith(screenText(m), "online"); !strings.Contains(l, "no active alerts") {
		t.Errorf("the header still counts the acknowledged alert: %q", l)
	}
	if a := m.alerts.list; len(a) != 1 || a[0].State != engine.AlertAcknowledged {
		t.Errorf("the alerts view did not follow the engine: %+v", a)
	}

	as := eng.ActiveAlerts()
	if len(as) != 1 || as[0].State != engine.AlertAcknowledged || as[0].AckedBy != "tester" {
		t.Fatalf("alert after a: %+v", as)
	}
	rows, err := db.ListAudit(ctx, store.AuditFilter{Action: "alerts.ack", Result: store.AuditSuccess}) // after its pending row
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].User != "tester" || rows[0].Result != store.AuditSuccess || rows[0].Via != "local" {
		t.Errorf("audit rows for the ack: %+v", rows)
	}
	if scr := screenText(m); !strings.Contains(scr, "alerts.ack") || !strings.Contains(scr, "tester") {
		t.Errorf("the audit view does not show the ack:\n%s", scr)
	}
}

// TestAViewersKeysAskNothingAndTheEngineStillRefuses: r as a Viewer
// sends nothing (no audit row); the same request sent through the
// console's requester is refused by the engine, with its audit row.
func TestAViewersKeysAskNothingAndTheEngineStillRefuses(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	eng, err := engine.New(ctx, db, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	viewer := engine.Identity{User: "carol", Role: engine.RoleViewer, Via: engine.ViaSSH, RemoteAddr: "10.1.2.3:52114"}
	m := loadedWith(t, userClient{eng, viewer}, Options{Role: "Viewer"}, 120, 40)
	nm, cmd := m.Update(keyPress("r"))
	m = nm.(Model)
	if cmd != nil || m.toast.text != "polling now needs the Operator role (you are Viewer)" {
		t.Errorf("r: toast %q, a command %v", m.toast.text, cmd != nil)
	}
	if rows, err := db.ListAudit(ctx, store.AuditFilter{}); err != nil || len(rows) != 0 {
		t.Fatalf("r reached the engine: %+v, %v", rows, err)
	}
	m = update(m, m.send(engine.PollNow{}, "a sweep")())
	if m.toast.text != "permission denied: Viewer may not devices.poll" {
		t.Errorf("toast %q", m.toast.text)
	}
	rows, err := db.ListAudit(ctx, store.AuditFilter{Result: store.AuditDenied})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].User != "carol" || rows[0].Action != "devices.poll" || rows[0].RemoteAddr != "10.1.2.3:52114" {
		t.Errorf("denied rows: %+v", rows)
	}
}
