package store

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

var alertT0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func detection(dev int64, typ, inst, sev string, at time.Time) AlertDetection {
	return AlertDetection{Key: AlertKey{DeviceID: dev, Type: typ, Instance: inst}, Severity: sev, Message: typ + " msg", At: at}
}

func recordAlert(t *testing.T, db *DB, d AlertDetection, reopenSince time.Time) (Alert, AlertChange) {
	t.Helper()
	a, ch, err := db.RecordAlert(context.Background(), d, reopenSince)
	if err != nil {
		t.Fatal(err)
	}
	return a, ch
}

func TestRecordAlertInsertsBumpsReopensAndStartsAfresh(t *testing.T) {
	db := openTestDB(t)
	dev := seedDevices(t, db, 1)[0]
	window := 5 * time.Minute
	at := func(m int) time.Time { return alertT0.Add(time.Duration(m) * time.Minute) }
	rec := func(m int, sev string) (Alert, AlertChange) {
		return recordAlert(t, db, detection(dev, "cpu_high", "", sev, at(m)), at(m).Add(-window))
	}

	first, ch := rec(0, SeverityMedium)
	if ch != AlertInserted || first.State != AlertActive || first.Count != 1 || first.Hostname != "dev-000" ||
		!first.FirstSeen.Equal(at(0)) || !first.LastSeen.Equal(at(0)) {
		t.Fatalf("first detection: %v %+v", ch, first)
	}
	again, ch := rec(5, SeverityCritical)
	if ch != AlertBumped || again.ID != first.ID || again.Count != 2 || again.Severity != SeverityCritical ||
		!again.LastSeen.Equal(at(5)) || !again.FirstSeen.Equal(at(0)) {
		t.Fatalf("second detection: %v %+v", ch, again)
	}
	// Another volume is another condition.
	other, _ := recordAlert(t, db, detection(dev, "cpu_high", "other", SeverityLow, at(5)), at(0))
	if other.ID == first.ID {
		t.Fatal("an alert of another instance folded into the first")
	}

	if _, ok, err := db.AutoResolveAlert(context.Background(), first.Key(), "rmm", at(6)); err != nil || !ok {
		t.Fatalf("auto-resolve: %v %v", ok, err)
	}
	back, ch := rec(10, SeverityMedium) // 4 minutes after the resolution: inside the window
	if ch != AlertReopened || back.ID != first.ID || back.Count != 3 || back.State != AlertActive ||
		back.AutoResolved || !back.ResolvedAt.IsZero() || back.ResolvedBy != "" {
		t.Fatalf("detection inside the window: %v %+v", ch, back)
	}

	if _, err := db.ResolveAlert(context.Background(), first.ID, "alice", "fixed", at(11)); err != nil {
		t.Fatal(err)
	}
	fresh, ch := rec(17, SeverityMedium) // 6 minutes after the resolution: a new alert
	if ch != AlertInserted || fresh.ID == first.ID || fresh.Count != 1 {
		t.Fatalf("detection after the window: %v %+v", ch, fresh)
	}
	old, err := db.GetAlert(context.Background(), first.ID)
	if err != nil || old.State != AlertResolved || old.ResolvedBy != "alice" || old.ResolveNote != "fixed" {
		t.Fatalf("the resolved alert changed: %+v %v", old, err)
	}
}

func TestAlertsWithoutADeviceAreKeyedLikeOthers(t *testing.T) {
	db := openTestDB(t)
	a, ch := recordAlert(t, db, detection(0, "credential_expired", "default", SeverityHigh, alertT0), alertT0)
	b, ch2 := recordAlert(t, db, detection(0, "credential_expired", "default", SeverityHigh, alertT0.Add(time.Minute)), alertT0)
	if ch != AlertInserted || ch2 != AlertBumped || a.ID != b.ID || b.DeviceID != 0 || b.Hostname != "" || b.Count != 2 {
		t.Fatalf("fleet-wide alert: %v %+v, %v %+v", ch, a, ch2, b)
	}
}

func TestAckAndResolveRecordWhoWhenAndWhy(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	dev := seedDevices(t, db, 1)[0]
	a, _ := recordAlert(t, db, detection(dev, "disk_used", "C:", SeverityHigh, alertT0), alertT0)

	acked, err := db.AckAlert(ctx, a.ID, "alice", "looking", alertT0.Add(time.Minute))
	if err != nil || acked.State != AlertAcknowledged || acked.AckedBy != "alice" || acked.AckNote != "looking" ||
		!acked.AckedAt.Equal(alertT0.Add(time.Minute)) {
		t.Fatalf("ack: %+v %v", acked, err)
	}
	// A detection while acknowledged keeps the acknowledgement.
	bumped, ch := recordAlert(t, db, detection(dev, "disk_used", "C:", SeverityHigh, alertT0.Add(2*time.Minute)), alertT0)
	if ch != AlertBumped || bumped.State != AlertAcknowledged || bumped.AckedBy != "alice" {
		t.Fatalf("detection while acknowledged: %v %+v", ch, bumped)
	}
	resolved, err := db.ResolveAlert(ctx, a.ID, "bob", "freed space", alertT0.Add(3*time.Minute))
	if err != nil || resolved.State != AlertResolved || resolved.ResolvedBy != "bob" || resolved.ResolveNote != "freed space" ||
		resolved.AutoResolved || !resolved.ResolvedAt.Equal(alertT0.Add(3*time.Minute)) || resolved.AckedBy != "alice" {
		t.Fatalf("resolve: %+v %v", resolved, err)
	}

	tests := []struct {
		name string
		do   func() error
		want string
		is   error
	}{
		{"acknowledging an unknown alert", func() error { _, err := db.AckAlert(ctx, 999, "x", "", alertT0); return err },
			"acknowledge alert 999: not found", ErrNotFound},
		{"acknowledging a resolved alert", func() error { _, err := db.AckAlert(ctx, a.ID, "x", "", alertT0); return err },
			"already resolved by bob", ErrAlertState},
		{"resolving a resolved alert", func() error { _, err := db.ResolveAlert(ctx, a.ID, "x", "", alertT0); return err },
			"already resolved by bob", ErrAlertState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want one containing %q wrapping %v", err, tt.want, tt.is)
			}
		})
	}

	b, _ := recordAlert(t, db, detection(dev, "offline", "", SeverityHigh, alertT0), alertT0)
	if _, err := db.AckAlert(ctx, b.ID, "alice", "", alertT0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AckAlert(ctx, b.ID, "carol", "", alertT0); err == nil || !strings.Contains(err.Error(), "already acknowledged by alice") {
		t.Fatalf("second ack: %v", err)
	}
	auto, ok, err := db.AutoResolveAlert(ctx, b.Key(), "rmm", alertT0.Add(time.Hour))
	if err != nil || !ok || !auto.AutoResolved || auto.ResolvedBy != "rmm" {
		t.Fatalf("auto-resolve: %+v %v %v", auto, ok, err)
	}
	if _, err := db.ResolveAlert(ctx, b.ID, "x", "", alertT0); err == nil || !strings.Contains(err.Error(), "already resolved automatically") {
		t.Fatalf("resolving an auto-resolved alert: %v", err)
	}
	if _, ok, err := db.AutoResolveAlert(ctx, b.Key(), "rmm", alertT0); ok || err != nil {
		t.Fatalf("auto-resolve with nothing unresolved: %v %v", ok, err)
	}
}

func TestListAlertsFiltersAndPutsTheMostUrgentFirst(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	ids := seedDevices(t, db, 2)
	add := func(dev int64, typ, sev string, minute int) Alert {
		a, _ := recordAlert(t, db, detection(dev, typ, "", sev, alertT0.Add(time.Duration(minute)*time.Minute)), alertT0)
		return a
	}
	low := add(ids[0], "pending_reboot", SeverityLow, 0)
	medOld := add(ids[0], "cpu_high", SeverityMedium, 1)
	medNew := add(ids[1], "cpu_high", SeverityMedium, 2)
	crit := add(ids[1], "disk_used", SeverityCritical, 3)
	if _, err := db.ResolveAlert(ctx, low.ID, "a", "", alertT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AckAlert(ctx, medOld.ID, "a", "", alertT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ids2 := func(as []Alert) []int64 {
		out := make([]int64, len(as))
		for i, a := range as {
			out[i] = a.ID
		}
		return out
	}
	tests := []struct {
		name string
		f    AlertFilter
		want []int64
	}{
		{"everything, by severity then newest first", AlertFilter{}, []int64{crit.ID, medNew.ID, medOld.ID, low.ID}},
		{"the unresolved ones", AlertFilter{States: []string{AlertActive, AlertAcknowledged}}, []int64{crit.ID, medNew.ID, medOld.ID}},
		{"the acknowledged ones", AlertFilter{States: []string{AlertAcknowledged}}, []int64{medOld.ID}},
		{"one severity", AlertFilter{Severity: SeverityMedium}, []int64{medNew.ID, medOld.ID}},
		{"one device", AlertFilter{DeviceID: ids[0]}, []int64{medOld.ID, low.ID}},
		{"a limit", AlertFilter{Limit: 1}, []int64{crit.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.ListAlerts(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if g := ids2(got); len(g) != len(tt.want) || !equalIDs(g, tt.want) {
				t.Fatalf("got %v, want %v", g, tt.want)
			}
		})
	}
	if _, err := db.ListAlerts(ctx, AlertFilter{States: []string{"Open"}}); err == nil {
		t.Error("the stored word Open was accepted as a state")
	}
	if _, err := db.ListAlerts(ctx, AlertFilter{Severity: "Warning"}); err == nil {
		t.Error("the retired severity Warning was accepted as a filter")
	}
	if _, _, err := db.RecordAlert(ctx, detection(ids[0], "x", "", "Warning", alertT0), alertT0); err == nil {
		t.Error("RecordAlert wrote the retired severity Warning")
	}
}

func equalIDs(a, b []int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// TestMigration4KeepsAlertsAndRetentionStillArchivesThem builds a schema
// 3 database with alerts in 0001's words, migrates it and checks that the
// rows survive in the new words and that retention archives the resolved
// ones.
func TestMigration4KeepsAlertsAndRetentionStillArchivesThem(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rmm.db")
	w := rawWriterAt(t, path)
	upTo3 := fstest.MapFS{}
	entries, err := fs.ReadDir(embeddedMigrations, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() < "0004" {
			b, err := fs.ReadFile(embeddedMigrations, e.Name())
			if err != nil {
				t.Fatal(err)
			}
			upTo3[e.Name()] = &fstest.MapFile{Data: b}
		}
	}
	if err := migrate(ctx, w, upTo3); err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	ms := func(ago time.Duration) int64 { return toMS(retentionNow.Add(-ago)) }
	for _, q := range []string{
		`INSERT INTO devices (id, hostname, site_id, port, created_at, updated_at) VALUES (7, 'ws-7', 1, 5986, 0, 0)`,
		`INSERT INTO alerts (id, device_id, type, severity, state, message, first_seen, last_seen, acked_by, acked_at)
			VALUES (11, 7, 'cpu_high', 'Warning', 'Acked', 'busy', 0, 0, 'alice', 5)`,
		`INSERT INTO alerts (id, device_id, type, severity, state, message, first_seen, last_seen, resolved_by, resolved_at)
			VALUES (12, 7, 'offline', 'Critical', 'Resolved', 'gone', ` + itoa(ms(101*day)) + `, ` + itoa(ms(101*day)) +
			`, 'bob', ` + itoa(ms(100*day)) + `)`,
		`INSERT INTO alerts (id, device_id, type, severity, state, message, first_seen, last_seen)
			VALUES (13, NULL, 'store', 'Info', 'Open', 'note', 0, 0)`,
	} {
		if _, err := w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	w.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.SchemaVersion(ctx); v < 4 {
		t.Fatalf("schema version %d after Open", v)
	}
	got, err := db.ListAlerts(ctx, AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]Alert{}
	for _, a := range got {
		byID[a.ID] = a
	}
	if a := byID[11]; a.Severity != SeverityMedium || a.State != AlertAcknowledged || a.AckedBy != "alice" || a.Hostname != "ws-7" {
		t.Errorf("alert 11 after migrating: %+v", a)
	}
	if a := byID[13]; a.State != AlertActive || a.DeviceID != 0 || a.Severity != SeverityInfo {
		t.Errorf("alert 13 after migrating: %+v", a)
	}
	var sev string
	db.reader.QueryRowContext(ctx, `SELECT severity FROM alerts WHERE id = 11`).Scan(&sev)
	if sev != "Medium" {
		t.Errorf("stored severity %q, want Medium", sev)
	}
	for _, idx := range []string{"alerts_state_severity", "alerts_device", "alerts_unresolved", "alerts_resolved_done"} {
		var c int
		db.reader.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, idx).Scan(&c)
		if c != 1 {
			t.Errorf("index %s missing after migrating", idx)
		}
	}
	var ic string
	db.reader.QueryRowContext(ctx, "PRAGMA foreign_key_check").Scan(&ic)
	if ic != "" {
		t.Errorf("foreign_key_check: %s", ic)
	}

	// Resolve the acknowledged one long ago through the API, then let
	// retention run: both resolved alerts leave for the archive.
	if _, err := db.ResolveAlert(ctx, 11, "carol", "", retentionNow.Add(-95*day)); err != nil {
		t.Fatal(err)
	}
	rep := applyRetention(t, db, t.TempDir(), RetentionPolicy{}, retentionNow)
	if rep.AlertsArchived != 2 {
		t.Fatalf("%d alerts archived, want 2", rep.AlertsArchived)
	}
	left, err := db.ListAlerts(ctx, AlertFilter{})
	if err != nil || len(left) != 1 || left[0].ID != 13 {
		t.Fatalf("alerts left %+v %v", left, err)
	}
	var lines []map[string]any
	for _, p := range rep.FilesWritten {
		lines = append(lines, readArchive(t, p)...)
	}
	if len(lines) != 2 || lines[0]["state"] != "Resolved" || lines[1]["state"] != "Resolved" {
		t.Errorf("archived %v", lines)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// rawWriterAt opens a writer pool on path without migrating it.
func rawWriterAt(t *testing.T, path string) *sql.DB {
	t.Helper()
	w, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	t.Cleanup(func() { w.Close() })
	return w
}

func TestPollCountsFailureRunsAndLatestMetricsAreReadPerDevice(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	ids := seedDevices(t, db, 3)
	w := NewWriter(db, WriterOptions{})
	w.Start()
	var rows []Metric
	for i, ok := range []float64{1, 1, 0, 1, 0, 0} {
		rows = append(rows, Metric{DeviceID: ids[0], Type: "poll_ok", Value: ok, At: alertT0.Add(time.Duration(i) * time.Hour)})
	}
	rows = append(rows,
		Metric{DeviceID: ids[1], Type: "poll_ok", Value: 0, At: alertT0.Add(-48 * time.Hour)}, // too old to count
		Metric{DeviceID: ids[2], Type: "poll_ok", Value: 1, At: alertT0.Add(-48 * time.Hour)},
		Metric{DeviceID: ids[2], Type: "poll_ok", Value: 0, At: alertT0.Add(-47 * time.Hour)},
		Metric{DeviceID: ids[2], Type: "poll_ok", Value: 1, At: alertT0.Add(-46 * time.Hour)}, // works again
		Metric{DeviceID: ids[0], Type: "disk_free_pct", Instance: "C:", Value: 50, At: alertT0},
		Metric{DeviceID: ids[0], Type: "disk_free_pct", Instance: "C:", Value: 12, At: alertT0.Add(time.Hour)},
		Metric{DeviceID: ids[0], Type: "disk_free_pct", Instance: "D:", Value: 40, At: alertT0.Add(time.Hour)},
		Metric{DeviceID: ids[1], Type: "disk_free_pct", Instance: "C:", Value: 80, At: alertT0},
	)
	if err := w.AddMetrics(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	counts, err := db.PollCountsSince(ctx, alertT0.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts[ids[0]] != (PollCount{OK: 3, Total: 6}) {
		t.Errorf("poll counts %v", counts)
	}
	runs, err := db.PollFailureRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// ids[0] worked at +3h, then failed twice; ids[1] never worked; ids[2] works again.
	if len(runs) != 2 || runs[ids[0]] != (FailureRun{Failures: 2, Since: alertT0.Add(4 * time.Hour)}) ||
		runs[ids[1]] != (FailureRun{Failures: 1, Since: alertT0.Add(-48 * time.Hour)}) {
		t.Errorf("failure runs %v", runs)
	}
	latest, err := db.LatestMetrics(ctx, "disk_free_pct")
	if err != nil {
		t.Fatal(err)
	}
	d0 := latest[ids[0]]
	if len(latest) != 2 || len(d0) != 2 || d0[0].Instance != "C:" || d0[0].Value != 12 || d0[1].Instance != "D:" ||
		len(latest[ids[1]]) != 1 || latest[ids[2]] != nil {
		t.Errorf("latest disks %+v", latest)
	}
}
