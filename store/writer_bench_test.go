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
