package engine

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/store"
)

// TestAPollsRowsAndStatusCommitInOneTransaction: a poll's metric rows,
// its poll_ok sample, its extended rows and its status reach the writer
// as one entry, so even a writer that commits after every entry (batch
// size 1) never commits part of a poll (reliability report F9: a kill -9
// left poll_ok = 1 with no cpu or disk rows at the same time).
func TestAPollsRowsAndStatusCommitInOneTransaction(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.UpsertDevices(ctx, []store.DeviceInput{{Hostname: "ws-1"}}); err != nil {
		t.Fatal(err)
	}
	e, err := New(ctx, db, Options{Writer: store.WriterOptions{BatchRows: 1, FlushInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	d, _ := e.deviceByName("ws-1")
	at := time.Now().UTC().Truncate(time.Millisecond)
	out := pollOutcome{status: StatusOnline, at: at, metrics: scripts.HostMetrics{CPUPct: 12, MemPct: 34,
		Disks: []scripts.DiskMetrics{{Drive: "C:", FreeGB: 50, FreePct: 40}, {Drive: "D:", FreeGB: 500, FreePct: 80}}},
		extra: []store.Metric{{DeviceID: d.ID, Type: MetricLatency, Value: 1.5, At: at}}}
	before := e.writer.Stats().Batches
	if _, err := e.record(ctx, d, out); err != nil {
		t.Fatal(err)
	}
	if err := e.writer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := e.writer.Stats()
	// cpu, mem, 2 x 2 disk rows, poll_ok, latency, and the status.
	if st.Batches-before != 1 || st.Rows != 9 {
		t.Errorf("the poll took %d transactions for %d rows; want 1 for 9", st.Batches-before, st.Rows)
	}
	counts, err := db.PollCountsSince(ctx, at.Add(-time.Minute))
	if err != nil || counts[d.ID] != (store.PollCount{OK: 1, Total: 1}) {
		t.Errorf("poll_ok samples %v %v", counts, err)
	}
}
