package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func actionsDB(t *testing.T) (*DB, []int64) {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.UpsertDevices(ctx, []DeviceInput{{Hostname: "ws-1"}, {Hostname: "ws-2"}, {Hostname: "srv-1"}}); err != nil {
		t.Fatal(err)
	}
	devs, err := db.ListDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(devs))
	for i, d := range devs {
		ids[i] = d.ID
	}
	return db, ids // srv-1, ws-1, ws-2
}

func TestARunsRowsMoveThroughTheirStatusesAndAreCounted(t *testing.T) {
	db, devs := actionsDB(t)
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Millisecond)
	rows, err := db.CreateRun(ctx, Run{ID: "r1", Action: "service", Params: map[string]string{"name": "Spooler"}, Target: "3 host(s)",
		RequestedBy: "olga", StartedAt: start}, devs)
	if err != nil || len(rows) != 3 {
		t.Fatalf("CreateRun: %v %v", rows, err)
	}
	if _, err := db.CreateRun(ctx, Run{ID: "r1", Action: "x", StartedAt: start}, devs[:1]); err == nil {
		t.Fatal("a second run with the same id was stored")
	}
	if err := db.StartAction(ctx, rows[0], start); err != nil {
		t.Fatal(err)
	}
	code := 0
	if err := db.FinishAction(ctx, ActionRow{ID: rows[0], Status: ActionCompleted, Message: "Spooler restarted", Stdout: "{}",
		ExitCode: &code, Duration: 1500 * time.Millisecond, Attempts: 2, ScriptVersion: 1, FinishedAt: start.Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnqueueAction(ctx, QueueEntry{DeviceID: devs[1], Action: "service", RequestedBy: "olga", EnqueuedAt: start,
		ExpiresAt: start.Add(time.Hour), RunID: "r1", ActionID: rows[1], Attempts: 1}, "Queued: device offline"); err != nil {
		t.Fatal(err)
	}
	rc, err := db.GetRun(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if rc.Total != 3 || rc.ByStatus[ActionCompleted] != 1 || rc.ByStatus[ActionQueued] != 1 || rc.ByStatus[ActionPending] != 1 ||
		!rc.FinishedAt.IsZero() || rc.Params["name"] != "Spooler" {
		t.Fatalf("run %+v", rc)
	}
	if n, err := db.CancelPendingActions(ctx, "r1", "Cancelled", start); err != nil || n != 1 {
		t.Fatalf("cancel pending: %d %v", n, err)
	}
	if err := db.FinishRun(ctx, "r1", start.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := db.ListActionRows(ctx, ActionFilter{RunID: "r1"})
	if err != nil || len(got) != 3 {
		t.Fatalf("rows: %v %v", got, err)
	}
	// A run's rows come in hostname order.
	if got[0].Host != "srv-1" || got[0].Status != ActionCompleted || got[0].Duration != 1500*time.Millisecond || got[0].Attempts != 2 ||
		*got[0].ExitCode != 0 || !got[0].StartedAt.Equal(start) || got[1].Status != ActionQueued || got[2].Status != ActionCancelled {
		t.Fatalf("rows %+v", got)
	}
	runs, err := db.ListRuns(ctx, "ws-1", 0)
	if err != nil || len(runs) != 1 || runs[0].FinishedAt.IsZero() {
		t.Fatalf("ListRuns ws-1: %+v %v", runs, err)
	}
	if _, err := db.GetRun(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
}

func TestTheOfflineQueueClaimsEachEntryOnceAndExpiresAndCancels(t *testing.T) {
	db, devs := actionsDB(t)
	ctx := context.Background()
	now := time.Now().UTC()
	rows, err := db.CreateRun(ctx, Run{ID: "r", Action: "flush-dns", StartedAt: now}, []int64{devs[0], devs[0], devs[1]})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i, exp := range []time.Time{now.Add(time.Hour), now.Add(time.Hour), now.Add(-time.Second)} {
		dev := devs[0]
		if i == 2 {
			dev = devs[1]
		}
		id, err := db.EnqueueAction(ctx, QueueEntry{DeviceID: dev, Action: "flush-dns", Params: map[string]string{"n": "x"}, EnqueuedAt: now,
			ExpiresAt: exp, RunID: "r", ActionID: rows[i]}, "Queued")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	pend, err := db.PendingForDevice(ctx, devs[0])
	if err != nil || len(pend) != 2 || pend[0].ID != ids[0] || pend[1].ID != ids[1] || pend[0].Params["n"] != "x" {
		t.Fatalf("pending, in order: %+v %v", pend, err)
	}
	withPending, err := db.DevicesWithPending(ctx)
	if err != nil || len(withPending) != 2 {
		t.Fatalf("devices with pending: %v %v", withPending, err)
	}
	ok, err := db.ClaimQueued(ctx, ids[0], 0)
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if ok, _ := db.ClaimQueued(ctx, ids[0], 0); ok {
		t.Fatal("an entry was claimed twice")
	}
	if err := db.ReleaseQueued(ctx, ids[0], "refused"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := db.ClaimQueued(ctx, ids[0], 0); !ok {
		t.Fatal("a released entry could not be claimed again")
	}
	if err := db.FinishQueued(ctx, ids[0], QueueDone, ""); err != nil {
		t.Fatal(err)
	}
	e, err := db.GetQueueEntry(ctx, ids[0])
	if err != nil || e.State != QueueDone || e.Attempts != 2 || e.ActionID != rows[0] {
		t.Fatalf("entry %+v %v", e, err)
	}

	expired, err := db.ExpireQueue(ctx, now)
	if err != nil || len(expired) != 1 || expired[0].ID != ids[2] {
		t.Fatalf("expire: %+v %v", expired, err)
	}
	row, err := db.GetActionRow(ctx, rows[2])
	if err != nil || row.Status != ActionExpired || row.FinishedAt.IsZero() {
		t.Fatalf("expired entry's row: %+v %v", row, err)
	}

	c, err := db.CancelQueued(ctx, ids[1], "olga", now)
	if err != nil || c.ID != ids[1] {
		t.Fatalf("cancel: %v", err)
	}
	if _, err := db.CancelQueued(ctx, ids[1], "olga", now); !errors.Is(err, ErrQueueState) {
		t.Errorf("cancel twice: %v", err)
	}
	if _, err := db.CancelQueued(ctx, 9999, "olga", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancel unknown: %v", err)
	}
	row, _ = db.GetActionRow(ctx, rows[1])
	if row.Status != ActionCancelled || row.Message != "Cancelled in the offline queue by olga" {
		t.Errorf("cancelled entry's row: %+v", row)
	}
	all, err := db.ListQueue(ctx, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("list all: %v %v", all, err)
	}
	if p, _ := db.ListQueue(ctx, QueuePending); len(p) != 0 {
		t.Errorf("pending left: %+v", p)
	}
}

func TestTheScriptLibraryKeepsEveryVersion(t *testing.T) {
	db, _ := actionsDB(t)
	ctx := context.Background()
	params := json.RawMessage(`[{"name":"Days","type":"int","default":"30","required":false}]`)
	for i := 1; i <= 3; i++ {
		s, err := db.AddScript(ctx, Script{Name: "cleanup", Body: "Write-Output " + string(rune('0'+i)), Params: params,
			Timeout: time.Minute, CreatedBy: "adam"})
		if err != nil || s.Version != i {
			t.Fatalf("add v%d: %+v %v", i, s, err)
		}
	}
	if _, err := db.AddScript(ctx, Script{Name: "other", Body: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddScript(ctx, Script{Name: "empty", Body: "  "}); err == nil {
		t.Error("an empty body was stored")
	}
	latest, err := db.GetScript(ctx, "CLEANUP", 0)
	if err != nil || latest.Version != 3 || latest.Body != "Write-Output 3" || latest.Timeout != time.Minute || string(latest.Params) != string(params) {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	v1, err := db.GetScript(ctx, "cleanup", 1)
	if err != nil || v1.Body != "Write-Output 1" {
		t.Fatalf("v1: %+v %v", v1, err)
	}
	if _, err := db.GetScript(ctx, "cleanup", 9); !errors.Is(err, ErrNotFound) {
		t.Errorf("v9: %v", err)
	}
	list, err := db.ListScripts(ctx, "")
	if err != nil || len(list) != 2 || list[0].Name != "cleanup" || list[0].Version != 3 || list[1].Name != "other" {
		t.Fatalf("list latest: %+v %v", list, err)
	}
	versions, err := db.ListScripts(ctx, "cleanup")
	if err != nil || len(versions) != 3 || versions[0].Version != 3 || versions[2].Version != 1 {
		t.Fatalf("versions: %+v %v", versions, err)
	}
}

func TestMigration0005KeepsOldActionRowsWithTheNewStatusNames(t *testing.T) {
	ctx := context.Background()
	w := rawWriter(t)
	upTo := func(n int) fstest.MapFS { return migrationsUpTo(t, n) }
	if err := migrate(ctx, w, upTo(4)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO devices (hostname, site_id, port, created_at, updated_at) VALUES ('h', 1, 5986, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	for i, st := range []string{"Queued", "Succeeded", "TimedOut", "Failed"} {
		if _, err := w.ExecContext(ctx, `INSERT INTO actions (run_id, device_id, action, status, output, requested_at) VALUES (?, 1, 'a', ?, 'out', ?)`,
			"old", st, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := migrate(ctx, w, upTo(5)); err != nil {
		t.Fatal(err)
	}
	rows, err := w.QueryContext(ctx, `SELECT status, output, attempts FROM actions ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var st, out string
		var att int
		if err := rows.Scan(&st, &out, &att); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s/%s/%d", st, out, att))
	}
	if strings.Join(got, ",") != "Pending/out/0,Completed/out/0,Failed/out/0,Failed/out/0" {
		t.Fatalf("migrated rows %v", got)
	}
}

// migrationsUpTo is the embedded migrations 1..n, to build a database of
// an older version.
func migrationsUpTo(t *testing.T, n int) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	ms, err := loadMigrations(embeddedMigrations)
	if err != nil {
		t.Fatal(err)
	}
	for _, mg := range ms[:n] {
		m[fmt.Sprintf("%04d_%s.sql", mg.version, mg.name)] = &fstest.MapFile{Data: []byte(mg.sql)}
	}
	return m
}

func TestMigration0007KeepsActionRowsAndPutsTheOutputsLast(t *testing.T) {
	ctx := context.Background()
	w := rawWriter(t)
	if err := migrate(ctx, w, migrationsUpTo(t, 6)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO devices (hostname, site_id, port, created_at, updated_at) VALUES ('h', 1, 5986, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	const cols = `id, run_id, device_id, action, params, status, message, output, stderr, exit_code, duration_ms, attempts,
		script_version, requested_by, requested_at, started_at, finished_at`
	if _, err := w.ExecContext(ctx, `INSERT INTO actions (`+cols+`) VALUES
		(7, 'r1', 1, 'service', '{"name":"Spooler"}', 'Completed', 'restarted', 'out', 'err', 0, 250, 2, 3, 'ann', 10, 11, 12),
		(9, 'r1', 1, 'reboot', '{}', 'Pending', '', '', '', NULL, 0, 0, 0, 'bob', 20, NULL, NULL)`); err != nil {
		t.Fatal(err)
	}
	dump := func() string {
		rows, err := w.QueryContext(ctx, `SELECT json_array(`+cols+`) FROM actions ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return strings.Join(out, "\n")
	}
	before := dump()
	if err := migrate(ctx, w, migrationsUpTo(t, 7)); err != nil {
		t.Fatal(err)
	}
	if after := dump(); after != before {
		t.Fatalf("rows changed by the migration:\n%s\nwant\n%s", after, before)
	}
	rows, err := w.QueryContext(ctx, `SELECT name FROM pragma_table_info('actions') ORDER BY cid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	if len(names) != 17 || names[15] != "output" || names[16] != "stderr" {
		t.Fatalf("columns after 0007: %v, want output and stderr last", names)
	}
	var idx int
	if err := w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'actions'
		AND name IN ('actions_device_started', 'actions_run')`).Scan(&idx); err != nil || idx != 2 {
		t.Fatalf("indexes after 0007: %d, %v", idx, err)
	}
}

// TestNoOutputRowsLeaveOutStdoutAndStderrOnly: a list with NoOutput has
// every field of the full list but stdout and stderr, which GetActionRow
// still returns in full.
func TestNoOutputRowsLeaveOutStdoutAndStderrOnly(t *testing.T) {
	db, devs := actionsDB(t)
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Millisecond)
	rows, err := db.CreateRun(ctx, Run{ID: "r1", Action: "run-script", Params: map[string]string{"script": "s"}, RequestedBy: "olga",
		StartedAt: start}, devs)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 70000) // past a page: the column lives in overflow pages
	for i, id := range rows[:2] {
		code := i
		if err := db.FinishAction(ctx, ActionRow{ID: id, Status: ActionCompleted, Message: fmt.Sprintf("done %d", i),
			Stdout: fmt.Sprintf("out %d ", i) + big, Stderr: fmt.Sprintf("err %d", i), ExitCode: &code, Duration: time.Second,
			Attempts: i + 1, ScriptVersion: 2, StartedAt: start, FinishedAt: start.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	full, err := db.ListActionRows(ctx, ActionFilter{RunID: "r1"})
	if err != nil || len(full) != 3 {
		t.Fatalf("full rows: %d %v", len(full), err)
	}
	brief, err := db.ListActionRows(ctx, ActionFilter{RunID: "r1", NoOutput: true})
	if err != nil || len(brief) != 3 {
		t.Fatalf("brief rows: %d %v", len(brief), err)
	}
	withOutput := 0
	for i := range full {
		f, b := full[i], brief[i]
		if f.Stdout != "" {
			withOutput++
		}
		if b.Stdout != "" || b.Stderr != "" {
			t.Errorf("%s: NoOutput row has stdout %d bytes, stderr %q", b.Host, len(b.Stdout), b.Stderr)
		}
		f.Stdout, f.Stderr = "", ""
		if fj, bj := mustJSON(t, f), mustJSON(t, b); fj != bj {
			t.Errorf("row %d differs beyond its output:\nfull  %s\nbrief %s", i, fj, bj)
		}
	}
	if withOutput != 2 {
		t.Fatalf("%d full rows have stdout, want 2", withOutput)
	}
	one, err := db.GetActionRow(ctx, rows[1])
	if err != nil || one.Stdout != "out 1 "+big || one.Stderr != "err 1" || one.Message != "done 1" || one.Attempts != 2 {
		t.Errorf("GetActionRow: stdout %d bytes, stderr %q, %+v, %v", len(one.Stdout), one.Stderr, one.Message, err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
