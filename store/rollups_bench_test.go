package store

import (
	"context"
	"testing"
	"time"
)

// BenchmarkRollupIncrementalVsFullScan shows that a rollup pass reads only
// the samples written since the last one: after one sweep of 100 devices
// (300 samples) on a table of 400,000, it times an incremental pass and
// a recomputation from every raw sample, and reports their ratio
// (full_scan_per_incremental). Run: go test ./store -run '^$' -bench RollupIncremental -benchtime 5x
func BenchmarkRollupIncrementalVsFullScan(b *testing.B) {
	db := openTestDB(b)
	seedDevices(b, db, 100)
	ctx := context.Background()
	if _, err := db.writer.ExecContext(ctx, `WITH RECURSIVE p(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM p WHERE i < 999)
		INSERT INTO metrics (device_id, type, instance, value, ts)
		SELECT d.id, t.typ, '', (p.i % 100), 1793491200000 + p.i*300000 FROM devices d, p,
		(SELECT 'poll_ok' typ UNION ALL SELECT 'cpu_pct' UNION ALL SELECT 'mem_pct' UNION ALL SELECT 'disk_free_pct') t`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.RollUp(ctx, 0); err != nil {
		b.Fatal(err)
	}
	next := int64(1794491200000)
	var incr, full time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if _, err := db.writer.ExecContext(ctx, `WITH RECURSIVE p(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM p WHERE i < 2)
			INSERT INTO metrics (device_id, type, instance, value, ts)
			SELECT d.id, 'cpu_pct', '', 5, ? + p.i*300000 FROM devices d, p`, next); err != nil {
			b.Fatal(err)
		}
		next += 900000
		b.StartTimer()
		start := time.Now()
		if rep, err := db.RollUp(ctx, 0); err != nil || rep.Samples != 300 {
			b.Fatalf("incremental pass %+v %v", rep, err)
		}
		incr += time.Since(start)
		b.StopTimer()
		// The same buckets computed from every raw sample.
		if _, err := db.writer.ExecContext(ctx, `DELETE FROM metric_rollups; UPDATE rollup_state SET last_id = 0, last_ts = 0`); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if _, err := db.RollUp(ctx, 0); err != nil {
			b.Fatal(err)
		}
		full += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(incr.Microseconds())/float64(b.N), "us/incremental_pass")
	b.ReportMetric(float64(full.Microseconds())/float64(b.N), "us/full_scan")
	b.ReportMetric(float64(full)/float64(incr), "full_scan_per_incremental")
}
