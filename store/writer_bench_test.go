package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkWriter writes the same rows twice per iteration, each into a
// fresh database: through the Writer (default options, rows added in
// poll-sized chunks from one goroutine) and as one raw transaction with a
// prepared insert, the fastest SQLite can take them. It reports both
// rates and their ratio; ns/op covers both and says little on its own.
func BenchmarkWriter(b *testing.B) {
	const rows = 20000
	const chunk = 10 // metrics per poll of one device
	var writerTime, rawTime time.Duration
	n := 0
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		wdb, wids := benchDB(b)
		rdb, rids := benchDB(b)
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

		start = time.Now()
		rawInsert(b, rdb, rids, rows, chunk)
		rawTime += time.Since(start)
		n++

		b.StopTimer()
		if got := countMetrics(b, wdb); got != rows {
			b.Fatalf("writer stored %d rows, want %d", got, rows)
		}
		wdb.Close()
		rdb.Close()
		b.StartTimer()
	}
	writerRate := float64(rows*n) / writerTime.Seconds()
	rawRate := float64(rows*n) / rawTime.Seconds()
	b.ReportMetric(writerRate, "writer_rows/s")
	b.ReportMetric(rawRate, "raw_rows/s")
	b.ReportMetric(writerRate/rawRate, "writer/raw")
}

func benchDB(b *testing.B) (*DB, []int64) {
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	return db, seedDevices(b, db, 100)
}

// rawInsert stores the rows in one transaction with one prepared statement.
func rawInsert(b *testing.B, db *DB, ids []int64, rows, chunk int) {
	ctx := context.Background()
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO metrics (device_id, type, instance, value, ts) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < rows; i += chunk {
		for _, m := range metricsFor(ids[(i/chunk)%len(ids)], chunk) {
			if _, err := stmt.ExecContext(ctx, m.DeviceID, m.Type, m.Instance, m.Value, toMS(m.At)); err != nil {
				b.Fatal(err)
			}
		}
	}
	stmt.Close()
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
