package engine_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/csvimport"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/store"
)

// testFleet starts a simulated fleet, imports it into a fresh SQLite file
// through the CSV importer and returns both.
func testFleet(t *testing.T, cfg winrmsim.Config) (*winrmsim.Fleet, *store.DB) {
	t.Helper()
	ctx := context.Background()
	if cfg.TLS == nil {
		cfg.AllowUnencrypted = true // HTTP hosts configured for Basic, as an admin does
	}
	fleet, err := winrmsim.New(cfg)
	if err != nil {
		t.Fatalf("winrmsim.New: %v", err)
	}
	if err := fleet.Start(ctx); err != nil {
		t.Fatalf("fleet.Start: %v", err)
	}
	t.Cleanup(func() { _ = fleet.Close() })
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	var buf bytes.Buffer
	if err := fleet.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	if _, problems, err := csvimport.Import(ctx, db, "fleet.csv", &buf, csvimport.Options{}); err != nil {
		t.Fatalf("import: %v %v", err, problems)
	}
	return fleet, db
}

func newEngine(t *testing.T, db *store.DB, opts engine.Options) *engine.Engine {
	t.Helper()
	if opts.Credential == (engine.Credential{}) {
		opts.Credential = engine.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword}
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	opts.Writer.FlushInterval = 20 * time.Millisecond
	e, err := engine.New(context.Background(), db, opts)
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func TestASweepOfFiftyHostsStoresMetricsAndMarksTheOfflineOnes(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 50, Seed: 42, OfflineFraction: 0.2})
	wantOffline := 0
	for _, h := range fleet.Hosts() {
		if !h.Online {
			wantOffline++
		}
	}
	if wantOffline == 0 || wantOffline == 50 {
		t.Fatalf("seed gave %d offline hosts; the test needs some of each", wantOffline)
	}
	eng := newEngine(t, db, engine.Options{Throttle: 10, Retries: -1})

	ctx := context.Background()
	res, err := eng.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if res.Devices != 50 || res.Offline != wantOffline || res.Online != 50-wantOffline || res.Unknown != 0 {
		t.Fatalf("sweep = %+v, want 50 devices, %d offline", res, wantOffline)
	}
	if res.Errors["device"] != wantOffline {
		t.Errorf("errors by class = %v, want device=%d", res.Errors, wantOffline)
	}
	// cpu + mem + 2 rows per volume (free % and free GB), at least one volume.
	if min := 4 * res.Online; res.MetricsWritten < min {
		t.Errorf("metrics written = %d, want at least %d", res.MetricsWritten, min)
	}

	devs, err := db.ListDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		h, ok := fleet.Host(d.Hostname)
		if !ok {
			t.Fatalf("device %s is not a simulated host", d.Hostname)
		}
		switch {
		case h.Online && d.Status != store.StatusOnline:
			t.Errorf("%s: status %s, want Online (last error %q)", d.Hostname, d.Status, d.LastError)
		case !h.Online && d.Status != store.StatusOffline:
			t.Errorf("%s: status %s, want Offline", d.Hostname, d.Status)
		case h.Online && (!d.HasMetrics || d.LastSeen.IsZero() || d.CPUPct < 0 || d.CPUPct > 100):
			t.Errorf("%s: online but metrics %+v", d.Hostname, d)
		case !h.Online && (d.LastError == "" || !d.LastSeen.IsZero()):
			t.Errorf("%s: offline but last error %q, last seen %v", d.Hostname, d.LastError, d.LastSeen)
		}
		if h.Online {
			rows, err := db.MetricsSince(ctx, d.ID, "cpu_pct", time.Now().Add(-time.Minute))
			if err != nil || len(rows) != 1 {
				t.Errorf("%s: cpu rows %d, err %v; want 1", d.Hostname, len(rows), err)
			}
		}
	}
	// The pool keeps one shell per host for the next sweep, and deletes
	// every one when the engine closes.
	if s := fleet.Stats(); s.ShellsOpen != int64(res.Online) {
		t.Errorf("simulator has %d shells open after the sweep, want one per online host (%d)", s.ShellsOpen, res.Online)
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	if s := fleet.Stats(); s.ShellsOpen != 0 {
		t.Errorf("simulator has %d shells open after Close, want 0", s.ShellsOpen)
	}
}

func TestAWrongPasswordIsAConfigurationErrorAndNeverShown(t *testing.T) {
	_, db := testFleet(t, winrmsim.Config{Devices: 5, Seed: 1})
	const secret = "Wr0ng-Pa55word-XYZ"
	eng := newEngine(t, db, engine.Options{Credential: engine.Credential{User: "rmm", Password: secret}})
	res, err := eng.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Unknown != 5 || res.Errors["configuration"] != 5 {
		t.Fatalf("sweep = %+v, want 5 unknown with configuration errors", res)
	}
	for _, d := range eng.Devices() {
		if d.Status != engine.StatusUnknown || !strings.Contains(d.LastError, "401") {
			t.Errorf("%s: status %s, error %q; want Unknown with HTTP 401", d.Hostname, d.Status, d.LastError)
		}
		if strings.Contains(d.LastError, secret) {
			t.Errorf("%s: the password appears in the last error", d.Hostname)
		}
	}
}

func TestAHostThatGoesOfflineAndComesBackIsTracked(t *testing.T) {
	fleet, db := testFleet(t, winrmsim.Config{Devices: 3, Seed: 5})
	eng := newEngine(t, db, engine.Options{Retries: -1})
	ctx := context.Background()
	name := fleet.Hosts()[1].Hostname

	sub := eng.Subscribe()
	defer sub.Close()

	if err := fleet.SetOnline(name, false); err != nil {
		t.Fatal(err)
	}
	res, err := eng.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The simulator keeps an offline host's port bound and not listening:
	// the connection is refused, which the engine classes Device (the
	// device is off the network), as for a real machine's closed port.
	if st := stateOf(t, eng, name); st.Status != engine.StatusOffline || !strings.Contains(st.LastError, "connection refused") {
		t.Fatalf("%s offline in the simulator: engine says %s (%q), want Offline and connection refused", name, st.Status, st.LastError)
	}
	if res.Errors["device"] != 1 || len(res.Errors) != 1 {
		t.Errorf("errors by class %v, want one device error", res.Errors)
	}
	// The subscriber saw the change as an event.
	select {
	case <-sub.Ready():
	case <-time.After(time.Second):
		t.Fatal("no event after a sweep")
	}
	u, ok := sub.Drain()
	if !ok || u.Summary.Offline != 1 || u.Summary.Online != 2 {
		t.Fatalf("drained %+v (ok=%v), want summary 2 online / 1 offline", u.Summary, ok)
	}
	seen := false
	for _, d := range u.Devices {
		if d.Hostname == name && d.Status == engine.StatusOffline {
			seen = true
		}
	}
	if !seen {
		t.Fatalf("no Offline event for %s in %+v", name, u.Devices)
	}

	if err := fleet.SetOnline(name, true); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if st := stateOf(t, eng, name); st.Status != engine.StatusOnline || st.LastError != "" {
		t.Fatalf("%s back online: engine says %s (%q)", name, st.Status, st.LastError)
	}
}

func TestCancellingASweepEndsItPromptly(t *testing.T) {
	_, db := testFleet(t, winrmsim.Config{Devices: 20, Seed: 3, ScriptTime: 3 * time.Second})
	eng := newEngine(t, db, engine.Options{Throttle: 5, Timeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := eng.Sweep(ctx)
	if err == nil {
		t.Fatal("a cancelled sweep reported success")
	}
	// Not a timing assertion on performance: a sweep that ignored the
	// cancellation would take 4 waves x 3s.
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("sweep took %s after cancel", took)
	}
}

func TestRunKeepsSweepingUntilCancelled(t *testing.T) {
	_, db := testFleet(t, winrmsim.Config{Devices: 4, Seed: 9})
	eng := newEngine(t, db, engine.Options{Interval: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	deadline := time.After(10 * time.Second)
	for eng.Summary().LastEnd.IsZero() {
		select {
		case <-deadline:
			t.Fatal("no sweep finished")
		case <-time.After(20 * time.Millisecond):
		}
	}
	first := eng.Summary().LastEnd
	for !eng.Summary().LastEnd.After(first) {
		select {
		case <-deadline:
			t.Fatal("no second sweep")
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
}

func TestNewRefusesAThrottleOutOfRange(t *testing.T) {
	_, db := testFleet(t, winrmsim.Config{Devices: 1, Seed: 1})
	for _, n := range []int{-1, 1001} {
		if _, err := engine.New(context.Background(), db, engine.Options{Throttle: n}); err == nil {
			t.Errorf("throttle %d accepted", n)
		}
	}
}

func stateOf(t *testing.T, eng *engine.Engine, host string) engine.DeviceState {
	t.Helper()
	for _, d := range eng.Devices() {
		if d.Hostname == host {
			return d
		}
	}
	t.Fatalf("no device %s", host)
	return engine.DeviceState{}
}

// outcomes drops the pending rows from audit rows: each change is
// written pending before it runs, then with its outcome.
func outcomes(rows []store.AuditEntry) []store.AuditEntry {
	var out []store.AuditEntry
	for _, r := range rows {
		if r.Result != store.AuditPending {
			out = append(out, r)
		}
	}
	return out
}
