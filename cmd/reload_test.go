package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// TestAConfigEditIsAppliedAuditedAndABadOneRejected drives the reload path
// for real: a config file on disk, the fsnotify watcher, the engine and
// the audit chain in SQLite.
func TestAConfigEditIsAppliedAuditedAndABadOneRejected(t *testing.T) {
	a, _, cfgPath := setupApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := store.Open(ctx, a.cfg.Store.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng, err := engine.New(ctx, db, a.engineOptions(engine.Credential{}))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	notices := make(chan reloadNotice, 4)
	wait, err := a.watchConfig(ctx, eng, func(n reloadNotice) { notices <- n })
	if err != nil {
		t.Fatal(err)
	}
	next := func() reloadNotice {
		t.Helper()
		select {
		case n := <-notices:
			return n
		case <-time.After(60 * time.Second):
			t.Fatal("no reload notice")
		}
		return reloadNotice{}
	}

	if err := os.WriteFile(cfgPath, []byte("engine:\n  throttle: 120\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := next(); n.Err || n.Text != "config reloaded: engine.throttle: 50 -> 120" {
		t.Fatalf("notice %+v", n)
	}
	if err := os.WriteFile(cfgPath, []byte("engine:\n  throttle: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := next(); !n.Err || !strings.Contains(n.Text, "config.yaml:2: engine.throttle: 0 is out of range 1..1000") {
		t.Fatalf("notice %+v", n)
	}
	// A file the config package accepts but the alert options do not (a
	// maintenance window's recurrence): rejected as a whole, and none of
	// it, not even its retention, becomes the config in effect.
	if err := os.WriteFile(cfgPath, []byte("engine:\n  throttle: 130\nretention:\n  metrics: 1d\n"+
		"maintenance_windows:\n  - name: x\n    group: g\n    every: someday 22:00 + 4h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := next(); !n.Err || !strings.Contains(n.Text, "maintenance_windows[0].every") {
		t.Fatalf("notice %+v", n)
	}
	if c := a.current(); c.Engine.Throttle != 120 || c.Retention.Metrics == 24*time.Hour {
		t.Fatalf("after a rejected reload the config in effect has throttle %d, retention.metrics %s; want the running 120 and its retention",
			c.Engine.Throttle, c.Retention.Metrics)
	}
	cancel()
	wait()

	if eng.Fatal() != nil {
		t.Fatalf("fatal: %v", eng.Fatal())
	}
	all, err := db.ListAudit(context.Background(), store.AuditFilter{Action: "config.reload"})
	if err != nil {
		t.Fatal(err)
	}
	var rows []store.AuditEntry // the outcomes: each reload is written pending first
	for _, r := range all {
		if r.Result != store.AuditPending {
			rows = append(rows, r)
		}
	}
	if len(rows) != 3 || rows[0].Result != store.AuditSuccess || rows[1].Result != store.AuditFailure || rows[2].Result != store.AuditFailure || rows[0].Via != "system" {
		t.Fatalf("audit rows %+v, want a success then two failures", rows)
	}
	if eng.Fatal() != nil {
		t.Fatalf("a reload made the engine fatal: %v", eng.Fatal())
	}
}

// setupApp is an app set up as a command would be, over a config file
// (engine.throttle 50) and a database in a fresh HOME; its log closes
// with the test.
func setupApp(t *testing.T) (a *app, home, cfgPath string) {
	t.Helper()
	home = t.TempDir()
	cfgPath = filepath.Join(home, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte("engine:\n  throttle: 50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a = &app{configPath: cfgPath, dbPath: filepath.Join(home, "rmm.db"), getenv: func(k string) string {
		if k == "HOME" {
			return home
		}
		return ""
	}, keyringCheck: func() error { return errTestNoKeyring }}
	if err := a.setup(nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.logOut.Close() })
	return a, home, cfgPath
}

// A route added to the config file reaches the running engine's
// notifier, and one that names no channel is rejected as a whole while
// the routes in effect stay.
func TestANotificationRouteEditReachesTheRunningEngine(t *testing.T) {
	a, _, cfgPath := setupApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := store.Open(ctx, a.cfg.Store.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng, err := engine.New(ctx, db, a.engineOptions(engine.Credential{}))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	notices := make(chan reloadNotice, 4)
	wait, err := a.watchConfig(ctx, eng, func(n reloadNotice) { notices <- n })
	if err != nil {
		t.Fatal(err)
	}
	defer wait()
	defer cancel()
	next := func() reloadNotice {
		t.Helper()
		select {
		case n := <-notices:
			return n
		case <-time.After(60 * time.Second): // only stops a hung test
			t.Fatal("no reload notice")
		}
		return reloadNotice{}
	}
	if n := len(eng.NotifyOptions().Routes); n != 0 {
		t.Fatalf("%d routes before the edit", n)
	}
	good := "engine:\n  throttle: 50\nnotifications:\n  channels:\n    hook:\n      type: webhook\n      url: https://127.0.0.1:9/rmm\n" +
		"  routes:\n    - name: servers-critical\n      match:\n        severity: [Critical]\n      channels: [hook]\n"
	if err := os.WriteFile(cfgPath, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := next(); n.Err {
		t.Fatalf("notice %+v", n)
	}
	o := eng.NotifyOptions()
	if len(o.Routes) != 1 || o.Routes[0].Name != "servers-critical" || o.Channels["hook"].URL != "https://127.0.0.1:9/rmm" {
		t.Fatalf("after the edit the engine routes %+v over %+v", o.Routes, o.Channels)
	}
	bad := strings.Replace(good, "channels: [hook]", "channels: [nowhere]", 1)
	if err := os.WriteFile(cfgPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := next(); !n.Err || !strings.Contains(n.Text, "nowhere") {
		t.Fatalf("a route to a channel that does not exist: notice %+v", n)
	}
	if o := eng.NotifyOptions(); len(o.Routes) != 1 || o.Routes[0].Channels[0] != "hook" {
		t.Fatalf("the rejected file changed the routes in effect: %+v", o.Routes)
	}
}
