package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkWriter writes the same rows several times per iteration, each
// into a fresh database, in turn: through the Writer (default options,
// rows added in poll-sized chunks from one goroutine), and as plain
// SQLite inserts in one transaction: one prepared one-row INSERT per row
// (raw1), and prepared multi-row INSERTs of each of rawMultiSizes rows
// (rawmulti: the fastest of those sizes in this run, the fastest plain
// insert we know; BenchmarkRawChunkSizes compares more sizes). It
// reports the rates and the Writer's rate over each baseline, all
// measured in the same run; ns/op covers everything and says little.
//
// The Writer does more per row than the raw inserts: each row is queued
// through a channel, and its INSERT skips rows of devices deleted
// meanwhile (a subquery per row).
func BenchmarkWriter(b *testing.B) {
	const rows = 20000
	const chunk = 10 // metrics per poll of one device
	var writerTime, oneRowTime time.Duration
	multiTime := make([]time.Duration, len(rawMultiSizes))
	n := 0
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		wdb, wids := benchDB(b)
		b.StartTimer()
		start := time.Now()
		w := NewWriter(wdb, WriterOptions{})
		w.Start()
		for i := 0; i < rows; i += chunk {
			if err := w.AddMetrics(ctx, metricsFor(wids[(i/chunk)%len(wids)], chunk)); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		writerTime += time.Since(start)
		b.StopTimer()
		if got := countMetrics(b, wdb); got != rows {
			b.Fatalf("writer stored %d rows, want %d", got, rows)
		}
		wdb.Close()
		b.StartTimer()

		raw := func(per int) time.Duration {
			b.StopTimer()
			db, ids := benchDB(b)
			b.StartTimer()
			start := time.Now()
			rawInsert(b, db, ids, rows, chunk, per)
			took := time.Since(start)
			b.StopTimer()
			if got := countMetrics(b, db); got != rows {
				b.Fatalf("%d-row inserts stored %d rows, want %d", per, got, rows)
			}
			db.Close()
			b.StartTimer()
			return took
		}
		oneRowTime += raw(1)
		for i, per := range rawMultiSizes {
			multiTime[i] += raw(per)
		}
		n++
	}
	rate := func(d time.Duration) float64 { return float64(rows*n) / d.Seconds() }
	best := 0.0
	for _, d := range multiTime {
		best = max(best, rate(d))
	}
	b.ReportMetric(rate(writerTime), "writer_rows/s")
	b.ReportMetric(rate(oneRowTime), "raw1_rows/s")
	b.ReportMetric(best, "rawmulti_rows/s")
	b.ReportMetric(rate(writerTime)/rate(oneRowTime), "writer/raw1")
	b.ReportMetric(rate(writerTime)/best, "writer/rawmulti")
}

// rawMultiSizes are the multi-row INSERT sizes BenchmarkWriter tries:
// BenchmarkRawChunkSizes found every size from 32 to 1024 rows within
// this machine's run-to-run noise of each other, and all of them 1.3 to
// 1.5 times as fast as one-row inserts.
var rawMultiSizes = []int{32, 128, 512}

// BenchmarkRawChunkSizes inserts the rows of BenchmarkWriter as plain
// prepared INSERTs of n rows each in one transaction, for several n in
// turn in every iteration (each into a fresh database), and reports each
// size's rows/s measured in the same run: how rawMultiSizes were chosen.
func BenchmarkRawChunkSizes(b *testing.B) {
	const rows = 20000
	const chunk = 10
	sizes := []int{1, 32, 128, 256, 512, 1024}
	took := make([]time.Duration, len(sizes))
	n := 0
	for b.Loop() {
		for i, per := range sizes {
			b.StopTimer()
			db, ids := benchDB(b)
			b.StartTimer()
			start := time.Now()
			rawInsert(b, db, ids, rows, chunk, per)
			took[i] += time.Since(start)
			b.StopTimer()
			db.Close()
			b.StartTimer()
		}
		n++
	}
	for i, per := range sizes {
		b.ReportMetric(float64(rows*n)/took[i].Seconds(), fmt.Sprintf("rows/s@%d", per))
	}
}

func benchDB(b *testing.B) (*DB, []int64) {
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	return db, seedDevices(b, db, 100)
}

// rawInsert stores the rows in one transaction with prepared INSERTs of
// per rows each (the last one takes the rest).
func rawInsert(b *testing.B, db *DB, ids []int64, rows, chunk, per int) {
	ctx := context.Background()
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stmts := map[int]*sql.Stmt{}
	prepare := func(k int) *sql.Stmt {
		if st, ok := stmts[k]; ok {
			return st
		}
		q := "INSERT INTO metrics (device_id, type, instance, value, ts) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?,?,?,?,?),", k), ",")
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		stmts[k] = st
		return st
	}
	all := make([]Metric, 0, rows)
	for i := 0; i < rows; i += chunk {
		all = append(all, metricsFor(ids[(i/chunk)%len(ids)], chunk)...)
	}
	args := make([]any, 0, 5*per)
	for len(all) > 0 {
		k := min(per, len(all))
		args = args[:0]
		for _, m := range all[:k] {
			args = append(args, m.DeviceID, m.Type, m.Instance, m.Value, toMS(m.At))
		}
		if _, err := prepare(k).ExecContext(ctx, args...); err != nil {
			b.Fatal(err)
		}
		all = all[k:]
	}
	for _, st := range stmts {
		st.Close()
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriterPolls feeds the Writer what one sweep of 10,000 polled
// devices queues, as the engine does per poll: 7 metric rows, then one
// status update (batch_rows 100). It reports ns/poll: the writer's cost
// per device poll, adding and committing, measured over whole sweeps.
func BenchmarkWriterPolls(b *testing.B) {
	const devices = 10000
	const perPoll = 7 // metric rows per poll
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ids := seedDevices(b, db, devices)
	types := [perPoll]struct{ typ, inst string }{
		{"cpu_pct", ""}, {"mem_pct", ""}, {"poll_ok", ""}, {"uptime_s", ""},
		{"disk_free_pct", "C:"}, {"disk_free_gb", "C:"}, {"disk_free_pct", "D:"},
	}
	ctx := context.Background()
	rows := make([]Metric, perPoll)
	at := time.UnixMilli(1e12)
	polls := 0
	for b.Loop() {
		w := NewWriter(db, WriterOptions{BatchRows: 100})
		w.Start()
		for i, id := range ids {
			at = at.Add(time.Millisecond)
			for j, t := range types {
				rows[j] = Metric{DeviceID: id, Type: t.typ, Instance: t.inst, Value: float64(i + j), At: at}
			}
			if err := w.AddMetrics(ctx, rows); err != nil {
				b.Fatal(err)
			}
			status := StatusOnline
			if i%10 == 0 {
				status = StatusOffline
			}
			if err := w.AddStatus(ctx, StatusUpdate{DeviceID: id, Status: status, At: at, HasMetrics: status == StatusOnline,
				CPUPct: float64(i % 100), MemPct: 50, DiskFreePct: 30}); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		if s := w.Stats(); s.Rows != devices*(perPoll+1) || s.Dropped != 0 || s.Failed != 0 {
			b.Fatalf("stats %+v, want %d rows", s, devices*(perPoll+1))
		}
		polls += devices
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(polls), "ns/poll")
}
