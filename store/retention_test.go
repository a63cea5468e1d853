package store

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var retentionNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// seedOldMetrics stores, for each device, one sample per hour going back
// ten days from retentionNow (at half past), and returns how many of them
// are older than seven days.
func seedOldMetrics(t testing.TB, db *DB, ids []int64) (total, old int) {
	t.Helper()
	ctx := context.Background()
	cutoff := retentionNow.Add(-DefaultMetricsRetention)
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			for k := range 240 {
				ts := retentionNow.Add(-time.Duration(k)*time.Hour - 30*time.Minute)
				if _, err := tx.ExecContext(ctx, `INSERT INTO metrics (device_id, type, instance, value, ts)
					VALUES (?, 'cpu_pct', '', ?, ?)`, id, float64(k), toMS(ts)); err != nil {
					return err
				}
				total++
				if ts.Before(cutoff) {
					old++
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total, old
}

// readArchive reads every line of a .jsonl.gz file the way a user's
// zcat would: all gzip members as one stream.
func readArchive(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("%s: line %d: %v", path, len(out)+1, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

func applyRetention(t *testing.T, db *DB, dir string, p RetentionPolicy, now time.Time) RetentionReport {
	t.Helper()
	rep, err := db.ApplyRetention(context.Background(), dir, p, now)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func archivePaths(dir, table string, days ...string) []string {
	var out []string
	for _, d := range days {
		out = append(out, filepath.Join(dir, table, d+".jsonl.gz"))
	}
	return out
}

func fileSizes(t *testing.T, paths []string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = fi.Size()
	}
	return out
}

func TestRetentionArchivesAndDeletesOldMetrics(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 3)
	total, old := seedOldMetrics(t, db, ids)
	if old != 3*72 {
		t.Fatalf("seeded %d old rows, want 216", old)
	}
	dir := filepath.Join(t.TempDir(), "archive")
	rep := applyRetention(t, db, dir, RetentionPolicy{BatchRows: 50}, retentionNow)

	if rep.MetricsArchived != int64(old) || rep.AlertsArchived != 0 || rep.AuditArchived != 0 {
		t.Errorf("report %+v, want %d metrics archived", rep, old)
	}
	if n := countMetrics(t, db); n != total-old {
		t.Errorf("%d rows left, want %d", n, total-old)
	}
	var young int
	db.reader.QueryRow(`SELECT count(*) FROM metrics WHERE ts < ?`, toMS(retentionNow.Add(-7*24*time.Hour))).Scan(&young)
	if young != 0 {
		t.Errorf("%d rows older than the cutoff left", young)
	}
	want := archivePaths(dir, "metrics", "2026-11-10", "2026-11-11", "2026-11-12", "2026-11-13")
	if !reflect.DeepEqual(rep.FilesWritten, want) {
		t.Errorf("files written %v\nwant %v", rep.FilesWritten, want)
	}

	seen := map[string]bool{}
	lines := 0
	for _, p := range want {
		day := strings.TrimSuffix(filepath.Base(p), ".jsonl.gz")
		for _, m := range readArchive(t, p) {
			lines++
			ts, _ := m["ts"].(json.Number).Int64()
			if got := dayOf(ts); got != day {
				t.Errorf("%s holds a row of %s", p, got)
			}
			if m["host"] == "" || m["type"] != "cpu_pct" {
				t.Errorf("%s: line %v", p, m)
			}
			id := m["id"].(json.Number).String()
			if seen[id] {
				t.Errorf("row %s archived twice", id)
			}
			seen[id] = true
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", p, fi.Mode(), err)
		}
	}
	if lines != old {
		t.Errorf("%d lines in the archive, want %d", lines, old)
	}
	var recorded int64
	db.reader.QueryRow(`SELECT sum(rows) FROM archive_files WHERE tbl = 'metrics'`).Scan(&recorded)
	if recorded != int64(old) {
		t.Errorf("archive_files counts %d rows, want %d", recorded, old)
	}

	t.Run("a second run archives nothing and leaves the files alone", func(t *testing.T) {
		before := fileSizes(t, want)
		rep := applyRetention(t, db, dir, RetentionPolicy{BatchRows: 50}, retentionNow)
		if rep.MetricsArchived != 0 || len(rep.FilesWritten) != 0 || len(rep.FilesRemoved) != 0 {
			t.Errorf("report %+v, want nothing done", rep)
		}
		if after := fileSizes(t, want); !reflect.DeepEqual(after, before) {
			t.Errorf("file sizes %v, were %v", after, before)
		}
	})

	t.Run("a later run appends to a day file without losing what it held", func(t *testing.T) {
		later := retentionNow.Add(24 * time.Hour)
		rep := applyRetention(t, db, dir, RetentionPolicy{BatchRows: 50}, later)
		if rep.MetricsArchived != 3*24 {
			t.Errorf("%d archived a day later, want 72", rep.MetricsArchived)
		}
		n := 0
		for _, p := range archivePaths(dir, "metrics", "2026-11-10", "2026-11-11", "2026-11-12", "2026-11-13", "2026-11-14") {
			n += len(readArchive(t, p))
		}
		if n != old+3*24 {
			t.Errorf("%d lines in the archive, want %d", n, old+3*24)
		}
	})
}

func TestACrashBeforeTheDeleteNeitherLosesNorRepeatsRows(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 2)
	total, old := seedOldMetrics(t, db, ids)
	dir := t.TempDir()
	// The delete fails after the archive member was written and fsynced,
	// as a crash or power loss before the commit would leave it.
	rawExec(t, db, `CREATE TEMP TRIGGER crash BEFORE DELETE ON metrics BEGIN SELECT RAISE(ABORT, 'simulated crash'); END`)
	_, err := db.ApplyRetention(context.Background(), dir, RetentionPolicy{BatchRows: 40}, retentionNow)
	if err == nil || !strings.Contains(err.Error(), "simulated crash") || !strings.Contains(err.Error(), "archive metrics") {
		t.Fatalf("ApplyRetention with a failing delete: %v", err)
	}
	if n := countMetrics(t, db); n != total {
		t.Fatalf("%d rows left after the failed run, want all %d", n, total)
	}
	p := filepath.Join(dir, "metrics", "2026-11-10.jsonl.gz")
	if len(readArchive(t, p)) == 0 {
		t.Fatal("the failed run wrote nothing past the committed length; the test proves nothing")
	}
	// And a half-written member after it.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0})
	f.Close()

	rawExec(t, db, `DROP TRIGGER temp.crash`)
	rep := applyRetention(t, db, dir, RetentionPolicy{BatchRows: 40}, retentionNow)
	if rep.MetricsArchived != int64(old) {
		t.Errorf("%d archived by the re-run, want %d", rep.MetricsArchived, old)
	}
	seen := map[string]int{}
	for _, p := range rep.FilesWritten {
		for _, m := range readArchive(t, p) {
			seen[m["id"].(json.Number).String()]++
		}
	}
	if len(seen) != old {
		t.Errorf("%d distinct rows in the archive, want %d", len(seen), old)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("row %s archived %d times", id, n)
		}
	}
}

func TestAnArchiveFileShorterThanCommittedIsRefused(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 1)
	seedOldMetrics(t, db, ids)
	dir := t.TempDir()
	applyRetention(t, db, dir, RetentionPolicy{}, retentionNow)
	p := filepath.Join(dir, "metrics", "2026-11-13.jsonl.gz")
	if err := os.Truncate(p, 10); err != nil {
		t.Fatal(err)
	}
	_, err := db.ApplyRetention(context.Background(), dir, RetentionPolicy{}, retentionNow.Add(24*time.Hour))
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "truncated or replaced") {
		t.Errorf("error %v, want one naming %s as truncated", err, p)
	}
}

func TestRetentionArchivesOnlyOldResolvedAlerts(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 1)
	day := 24 * time.Hour
	ms := func(ago time.Duration) int64 { return toMS(retentionNow.Add(-ago)) }
	for _, a := range []struct {
		typ, state string
		lastSeen   int64
		resolvedAt any
	}{
		{"cpu_high", "Resolved", ms(101 * day), ms(100 * day)}, // archived, with instance and notes
		{"disk_low", "Resolved", ms(11 * day), ms(10 * day)},   // too young
		{"offline", "Open", ms(200 * day), nil},                // not resolved
		{"mem_high", "Acked", ms(150 * day), nil},              // not resolved
		{"svc_down", "Resolved", ms(120 * day), nil},           // resolved without a time: by last seen
	} {
		rawExec(t, db, `INSERT INTO alerts (device_id, type, severity, state, message, first_seen, last_seen, resolved_at)
			VALUES (?, ?, 'Warning', ?, 'msg', ?, ?, ?)`, ids[0], a.typ, a.state, a.lastSeen, a.lastSeen, a.resolvedAt)
	}
	rawExec(t, db, `UPDATE alerts SET instance = 'C:', ack_note = 'looking', resolve_note = 'disk cleaned' WHERE type = 'cpu_high'`)
	dir := t.TempDir()
	rep := applyRetention(t, db, dir, RetentionPolicy{}, retentionNow)
	if rep.AlertsArchived != 2 {
		t.Errorf("%d alerts archived, want 2", rep.AlertsArchived)
	}
	var left []string
	rows, _ := db.reader.Query(`SELECT type FROM alerts ORDER BY type`)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		left = append(left, s)
	}
	rows.Close()
	if strings.Join(left, ",") != "disk_low,mem_high,offline" {
		t.Errorf("alerts left %v", left)
	}
	var got []map[string]any
	for _, p := range rep.FilesWritten {
		got = append(got, readArchive(t, p)...)
	}
	sort.Slice(got, func(i, j int) bool { return got[i]["type"].(string) < got[j]["type"].(string) })
	if len(got) != 2 || got[0]["type"] != "cpu_high" || got[0]["host"] != "dev-000" ||
		got[0]["resolved_at"] != json.Number(strconv.FormatInt(ms(100*day), 10)) || got[1]["resolved_at"] != nil ||
		got[0]["instance"] != "C:" || got[0]["ack_note"] != "looking" || got[0]["resolve_note"] != "disk cleaned" ||
		got[1]["instance"] != "" {
		t.Errorf("archived alerts %v", got)
	}
}

func TestOldArchiveFilesAreRemoved(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 1)
	seedOldMetrics(t, db, ids)
	dir := t.TempDir()
	applyRetention(t, db, dir, RetentionPolicy{}, retentionNow) // writes 2026-11-10 .. 13
	stray := filepath.Join(dir, "metrics", "notes.txt")
	os.WriteFile(stray, []byte("keep me"), 0o600)
	unknown := filepath.Join(dir, "metrics", "2020-01-01.jsonl.gz")
	os.WriteFile(unknown, []byte("an old file the database does not know"), 0o600)

	// Two years on, days before 2026-11-12 are past the archive retention.
	later := time.Date(2026, 11, 12, 6, 0, 0, 0, time.UTC).Add(DefaultArchiveRetention)
	rep := applyRetention(t, db, dir, RetentionPolicy{}, later)
	want := archivePaths(dir, "metrics", "2020-01-01", "2026-11-10", "2026-11-11")
	if !reflect.DeepEqual(rep.FilesRemoved, want) {
		t.Errorf("removed %v\nwant %v", rep.FilesRemoved, want)
	}
	for _, p := range want {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", p, err)
		}
	}
	for _, p := range append(archivePaths(dir, "metrics", "2026-11-12", "2026-11-13"), stray) {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v, want it kept", p, err)
		}
	}
	var n int
	db.reader.QueryRow(`SELECT count(*) FROM archive_files WHERE path < 'metrics/2026-11-12'`).Scan(&n)
	if n != 0 {
		t.Errorf("%d records of removed files left", n)
	}
}

func TestRetentionPolicyDefaultsAndChecks(t *testing.T) {
	p, err := RetentionPolicy{}.withDefaults()
	if err != nil || p != (RetentionPolicy{Metrics: 7 * 24 * time.Hour, Data: 90 * 24 * time.Hour,
		Archive: 730 * 24 * time.Hour, BatchRows: 5000}) {
		t.Errorf("defaults %+v, %v", p, err)
	}
	for _, bad := range []RetentionPolicy{{Metrics: -time.Hour}, {BatchRows: -1}, {Archive: 30 * 24 * time.Hour}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("policy %+v accepted", bad)
		}
	}
	db := openTestDB(t)
	if _, err := db.ApplyRetention(context.Background(), "", RetentionPolicy{}, retentionNow); err == nil {
		t.Error("an empty archive directory was accepted")
	}
}

// seedOldAudit appends 60 rows two days apart, the first 120 days before
// retentionNow; 15 of them are older than 90 days.
func seedOldAudit(t *testing.T, db *DB) []AuditEntry {
	t.Helper()
	var out []AuditEntry
	for i := range 60 {
		e, err := db.AppendAudit(context.Background(), AuditEntry{
			At: retentionNow.Add(-120*24*time.Hour + time.Duration(i)*48*time.Hour), User: "alice", Role: "Admin",
			Via: "local", Action: "device.add", Targets: []string{"WS-001"}, Result: AuditSuccess,
			Details: map[string]any{"i": i},
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func verifyWithArchive(t *testing.T, db *DB, dir string) VerifyResult {
	t.Helper()
	res, err := db.VerifyAuditWithArchive(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestTheAuditChainSpansArchiveAndDatabase(t *testing.T) {
	db := openTestDB(t)
	rows := seedOldAudit(t, db)
	dir := t.TempDir()
	rep := applyRetention(t, db, dir, RetentionPolicy{BatchRows: 4}, retentionNow)
	if rep.AuditArchived != 15 {
		t.Fatalf("%d audit rows archived, want 15", rep.AuditArchived)
	}
	if res := verify(t, db); !res.OK || res.Rows != 45 {
		t.Errorf("verify of the database alone = %+v, want OK with 45 rows", res)
	}
	if res := verifyWithArchive(t, db, dir); !res.OK || res.Rows != 60 || res.LastID != 60 {
		t.Errorf("verify with the archive = %+v, want OK with 60 rows", res)
	}
	lines := 0
	for _, p := range rep.FilesWritten {
		for _, m := range readArchive(t, p) {
			lines++
			if m["hash"] != rows[lines-1].Hash || m["prev_hash"] != rows[lines-1].PrevHash {
				t.Errorf("archived row %v lost its chain hashes", m["id"])
			}
		}
	}
	if lines != 15 {
		t.Errorf("%d archived audit lines, want 15", lines)
	}

	e, err := db.AppendAudit(context.Background(), AuditEntry{User: "bob", Action: "x", Result: AuditSuccess})
	if err != nil || e.ID != 61 {
		t.Fatalf("append after archiving: id %d, %v", e.ID, err)
	}
	if res := verifyWithArchive(t, db, dir); !res.OK || res.Rows != 61 {
		t.Errorf("verify with the archive after an append = %+v", res)
	}
	if rep := applyRetention(t, db, dir, RetentionPolicy{}, retentionNow); rep.AuditArchived != 0 {
		t.Errorf("a re-run archived %d audit rows", rep.AuditArchived)
	}
}

// rewriteArchive replaces an archive file with its lines passed through
// edit, as one gzip member, as someone with gzip and an editor would.
func rewriteArchive(t *testing.T, path string, edit func(lines []string) []string) {
	t.Helper()
	var lines []string
	for _, m := range readArchive(t, path) {
		b, _ := json.Marshal(m)
		lines = append(lines, string(b))
	}
	lines = edit(lines)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, l := range lines {
		zw.Write([]byte(l + "\n"))
	}
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyWithArchiveFindsTampering(t *testing.T) {
	// Rows 1..15 are archived, two days apart from 2026-07-23: row 1 in
	// audit/2026-07-23.jsonl.gz, row 2 in 2026-07-25, and so on.
	tests := []struct {
		name     string
		tamper   func(t *testing.T, dir string)
		firstBad int64
		reason   string // a part of the reason
	}{
		{
			name: "an archived line edited",
			tamper: func(t *testing.T, dir string) {
				rewriteArchive(t, filepath.Join(dir, "audit", "2026-07-27.jsonl.gz"), func(ls []string) []string {
					ls[0] = strings.Replace(ls[0], `"user":"alice"`, `"user":"mallory"`, 1)
					return ls
				})
			},
			firstBad: 3, reason: "archive audit/2026-07-27.jsonl.gz line 1: row 3: hash mismatch (row edited)",
		},
		{
			name: "an archived line deleted",
			tamper: func(t *testing.T, dir string) {
				rewriteArchive(t, filepath.Join(dir, "audit", "2026-07-27.jsonl.gz"), func([]string) []string { return nil })
			},
			firstBad: 4, reason: "row 4: previous hash does not match row 2 (row deleted or inserted)",
		},
		{
			name: "the newest archive file removed",
			tamper: func(t *testing.T, dir string) {
				os.Remove(filepath.Join(dir, "audit", "2026-08-20.jsonl.gz"))
			},
			firstBad: 15, reason: "the archive ends at row 14 but the database archived rows up to row 15",
		},
		{
			name: "an archive file with a damaged byte",
			tamper: func(t *testing.T, dir string) {
				p := filepath.Join(dir, "audit", "2026-07-29.jsonl.gz")
				b, _ := os.ReadFile(p)
				b[len(b)-6] ^= 0xff // in the CRC
				os.WriteFile(p, b, 0o600)
			},
			reason: "archive audit/2026-07-29.jsonl.gz: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is reported", func(t *testing.T) {
			db := openTestDB(t)
			seedOldAudit(t, db)
			dir := t.TempDir()
			applyRetention(t, db, dir, RetentionPolicy{}, retentionNow)
			tt.tamper(t, dir)
			res := verifyWithArchive(t, db, dir)
			if res.OK || res.FirstBad != tt.firstBad || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("verify = %+v\nwant first bad %d and a reason containing %q", res, tt.firstBad, tt.reason)
			}
			if res := verify(t, db); !res.OK {
				t.Errorf("verify of the database alone = %+v, want OK: the database was not touched", res)
			}
		})
	}
}

func TestRemovingOldAuditArchivesKeepsTheRestVerifiable(t *testing.T) {
	db := openTestDB(t)
	seedOldAudit(t, db)
	dir := t.TempDir()
	applyRetention(t, db, dir, RetentionPolicy{}, retentionNow)
	// Two years on less 60 days: every row is archived, and the files of
	// rows 1..30 (older than 60 days before retentionNow) are removed.
	later := retentionNow.Add(DefaultArchiveRetention - 60*24*time.Hour)
	rep := applyRetention(t, db, dir, RetentionPolicy{}, later)
	if rep.AuditArchived != 45 || len(rep.FilesRemoved) != 30 {
		t.Errorf("archived %d, removed %d files; want 45 and 30", rep.AuditArchived, len(rep.FilesRemoved))
	}
	var id int64
	db.reader.QueryRow(`SELECT last_id FROM audit_anchor WHERE kind = 'pruned'`).Scan(&id)
	if id != 30 {
		t.Errorf("pruned anchor at row %d, want 30", id)
	}
	if res := verifyWithArchive(t, db, dir); !res.OK || res.Rows != 30 || res.LastID != 60 {
		t.Errorf("verify with the archive = %+v, want OK with rows 31..60", res)
	}
	// The table is empty now; the chain goes on from the archived anchor.
	e, err := db.AppendAudit(context.Background(), AuditEntry{User: "bob", Action: "x", Result: AuditSuccess})
	if err != nil || e.ID != 61 {
		t.Fatalf("append to an emptied table: id %d, %v; want 61", e.ID, err)
	}
	if res := verify(t, db); !res.OK || res.Rows != 1 {
		t.Errorf("verify = %+v", res)
	}
	if res := verifyWithArchive(t, db, dir); !res.OK || res.Rows != 31 {
		t.Errorf("verify with the archive = %+v", res)
	}
}

func TestRetentionDoesNotStallTheWriter(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 20)
	_, old := seedOldMetrics(t, db, ids) // 20 * 72 old rows
	w := NewWriter(db, WriterOptions{BatchRows: 50, FlushInterval: time.Millisecond, QueueSize: 64})
	w.Start()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			// Fresh samples: younger than any cutoff, never archived.
			if err := w.AddMetrics(ctx, []Metric{{DeviceID: ids[i%len(ids)], Type: "cpu_pct", Value: 1,
				At: retentionNow}}); err != nil && ctx.Err() == nil {
				t.Error(err)
			}
		}
	})
	eventually(t, "the writer commits", func() bool { return w.Stats().Batches > 0 })

	// The writer's batch count, sampled with the time before and after
	// each read, while retention runs. A commit between two samples that
	// both lie wholly inside the retention run happened while retention
	// was running; one that lands just after it returns does not count.
	type sample struct {
		from, to time.Time
		batches  int64
	}
	var samples []sample
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		for {
			select {
			case <-stopSampling:
				return
			default:
			}
			from := time.Now()
			b := w.Stats().Batches
			samples = append(samples, sample{from, time.Now(), b})
			time.Sleep(100 * time.Microsecond)
		}
	})
	start := time.Now()
	rep, err := db.ApplyRetention(context.Background(), t.TempDir(), RetentionPolicy{BatchRows: 100}, retentionNow)
	end := time.Now()
	close(stopSampling)
	sampling.Wait()
	cancel()
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if rep.MetricsArchived != int64(old) {
		t.Errorf("%d archived, want %d", rep.MetricsArchived, old)
	}
	var inside []sample
	for _, x := range samples {
		if !x.from.Before(start) && !x.to.After(end) {
			inside = append(inside, x)
		}
	}
	if len(inside) < 2 {
		t.Fatalf("%d samples of the writer inside the retention run (%v), want 2 or more", len(inside), end.Sub(start))
	}
	first, last := inside[0], inside[len(inside)-1]
	if last.batches <= first.batches {
		t.Errorf("the writer committed no batch while retention ran (%d at %v, %d at %v into it)",
			first.batches, first.to.Sub(start), last.batches, last.from.Sub(start))
	}
	t.Logf("retention of %d rows took %v; the writer committed %d batches meanwhile", old, rep.Took, last.batches-first.batches)
}

func TestAuditRowsLeaveTheDatabaseOnlyAsAPrefixOfTheChain(t *testing.T) {
	db := openTestDB(t)
	old, young := retentionNow.Add(-100*24*time.Hour), retentionNow.Add(-time.Hour)
	for _, at := range []time.Time{old, old, young, old} { // row 4 is old but follows a young row
		if _, err := db.AppendAudit(context.Background(), AuditEntry{At: at, User: "alice", Action: "x",
			Result: AuditSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	rep := applyRetention(t, db, dir, RetentionPolicy{}, retentionNow)
	if rep.AuditArchived != 2 {
		t.Errorf("%d audit rows archived, want rows 1 and 2", rep.AuditArchived)
	}
	left, _ := db.ListAudit(context.Background(), AuditFilter{})
	if len(left) != 2 || left[0].ID != 3 || left[1].ID != 4 {
		t.Errorf("rows left %v, want 3 and 4", left)
	}
	if res := verifyWithArchive(t, db, dir); !res.OK || res.Rows != 4 {
		t.Errorf("verify with the archive = %+v", res)
	}
}
