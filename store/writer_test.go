package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// seedDevices adds n devices named dev-000... and returns their ids.
func seedDevices(t testing.TB, db *DB, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	in := make([]DeviceInput, n)
	for i := range in {
		in[i] = DeviceInput{Hostname: fmt.Sprintf("dev-%03d", i)}
	}
	if _, err := db.UpsertDevices(ctx, in); err != nil {
		t.Fatal(err)
	}
	ds, err := db.ListDevices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

func countMetrics(t testing.TB, db *DB) int {
	t.Helper()
	var n int
	if err := db.reader.QueryRow(`SELECT count(*) FROM metrics`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func metricsFor(id int64, n int) []Metric {
	ms := make([]Metric, n)
	for i := range ms {
		ms[i] = Metric{DeviceID: id, Type: "cpu_pct", Value: float64(i), At: time.UnixMilli(int64(1e12 + i))}
	}
	return ms
}

// eventually polls cond for up to 5s; timing only bounds the wait, the
// assertion is about what happens, not how fast.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWriterFlushesWhenABatchIsFull(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 1)
	w := NewWriter(db, WriterOptions{BatchRows: 10, FlushInterval: time.Hour})
	w.Start()
	defer w.Close()
	for range 5 { // five polls of 5 rows
		if err := w.AddMetrics(context.Background(), metricsFor(ids[0], 5)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "two full batches are committed", func() bool { return w.Stats().Batches == 2 })
	if s := w.Stats(); s.Rows != 20 {
		t.Errorf("stats %+v, want 2 batches of 10", s)
	}
	// The 5 left over wait for more, not for time (the interval is an
	// hour): the next 5 complete a third batch of 10 with them. Had they
	// gone in alone, the writer would show a batch of 5 and 25 rows.
	if err := w.AddMetrics(context.Background(), metricsFor(ids[0], 5)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a third batch is committed", func() bool { return w.Stats().Batches >= 3 })
	if s := w.Stats(); s.Batches != 3 || s.Rows != 30 {
		t.Errorf("stats %+v, want 3 batches of 10", s)
	}
	if n := countMetrics(t, db); n != 30 {
		t.Errorf("%d rows committed, want 30", n)
	}
}

func TestWriterCommitsOneCallsRowsTogether(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 1)
	w := NewWriter(db, WriterOptions{BatchRows: 10, FlushInterval: time.Hour})
	w.Start()
	defer w.Close()
	// One call over the batch size is one transaction, not split at 10.
	if err := w.AddMetrics(context.Background(), metricsFor(ids[0], 25)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the call is committed", func() bool { return w.Stats().Batches == 1 })
	if s := w.Stats(); s.Rows != 25 {
		t.Errorf("stats %+v, want 1 batch of 25 rows", s)
	}
	if n := countMetrics(t, db); n != 25 {
		t.Errorf("%d rows committed, want 25", n)
	}
}

func TestWriterFlushesWhenTheIntervalPasses(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 1)
	w := NewWriter(db, WriterOptions{BatchRows: 1000, FlushInterval: 20 * time.Millisecond})
	w.Start()
	defer w.Close()
	if err := w.AddMetrics(context.Background(), metricsFor(ids[0], 3)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the interval flushes the partial batch", func() bool { return w.Stats().Batches == 1 })
	if n := countMetrics(t, db); n != 3 {
		t.Errorf("%d rows committed, want 3", n)
	}
}

func TestWriterFlushCommitsWhatIsPendingAndWaits(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 1)
	w := NewWriter(db, WriterOptions{BatchRows: 1000, FlushInterval: time.Hour})
	w.Start()
	defer w.Close()
	ctx := context.Background()
	if err := w.AddMetrics(ctx, metricsFor(ids[0], 7)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countMetrics(t, db); n != 7 {
		t.Errorf("%d rows after Flush, want 7", n)
	}
}

func TestWriterCloseFlushesAndLaterCallsAreRefused(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 1)
	w := NewWriter(db, WriterOptions{BatchRows: 1000, FlushInterval: time.Hour})
	w.Start()
	ctx := context.Background()
	if err := w.AddMetrics(ctx, metricsFor(ids[0], 5)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countMetrics(t, db); n != 5 {
		t.Errorf("%d rows after Close, want 5", n)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for name, err := range map[string]error{
		"AddMetrics": w.AddMetrics(ctx, metricsFor(ids[0], 1)),
		"AddStatus":  w.AddStatus(ctx, StatusUpdate{DeviceID: ids[0], Status: StatusOnline}),
		"Flush":      w.Flush(ctx),
	} {
		if !errors.Is(err, ErrWriterClosed) {
			t.Errorf("%s after Close: %v, want ErrWriterClosed", name, err)
		}
	}
}

func TestWriterThatWasNeverStartedDrainsOnClose(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 1)
	w := NewWriter(db, WriterOptions{})
	if err := w.AddMetrics(context.Background(), metricsFor(ids[0], 3)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countMetrics(t, db); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
}

func TestWriterAddHonoursTheContextWhenTheQueueIsFull(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 1)
	w := NewWriter(db, WriterOptions{QueueSize: 2}) // not started: nothing drains
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	for i := range 2 {
		if err := w.AddMetrics(ctx, metricsFor(ids[0], 5)); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	err := w.AddMetrics(ctx, metricsFor(ids[0], 5))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "add metrics: ") {
		t.Errorf("error %v, want add metrics: a deadline (the queue holds 2 calls)", err)
	}
	if n := len(w.queue); n != 2 {
		t.Errorf("%d entries queued, want the first 2 calls and nothing of the third", n)
	}
}

func TestWriterRefusesInvalidRows(t *testing.T) {
	db := openTestDB(t)
	w := NewWriter(db, WriterOptions{})
	defer w.Close()
	ctx := context.Background()
	nan := 0.0
	nan = nan / nan
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"a metric without a device", w.AddMetrics(ctx, []Metric{{Type: "cpu_pct"}}), "add metrics: row 1: device id 0"},
		{"a metric without a type", w.AddMetrics(ctx, []Metric{{DeviceID: 1}}), "add metrics: row 1: empty metric type"},
		{"a NaN metric", w.AddMetrics(ctx, []Metric{{DeviceID: 1, Type: "x", Value: nan}}),
			"add metrics: row 1: x: value NaN is not a finite number"},
		{"an unknown status", w.AddStatus(ctx, StatusUpdate{DeviceID: 1, Status: "Up"}),
			`add status: device 1: status "Up": want Online, Offline or Unknown`},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			if tt.err == nil || tt.err.Error() != tt.want {
				t.Errorf("error %v, want %q", tt.err, tt.want)
			}
		})
	}
}

func TestWriterStatusUpdates(t *testing.T) {
	t1 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Minute)
	tests := []struct {
		name    string
		updates []StatusUpdate
		want    Device // status fields only
	}{
		{
			name:    "an online poll with metrics sets last_seen and the metric columns",
			updates: []StatusUpdate{{Status: StatusOnline, At: t1, HasMetrics: true, CPUPct: 12.5, MemPct: 40, DiskFreePct: 7}},
			want: Device{Status: StatusOnline, LastSeen: t1, HasMetrics: true, CPUPct: 12.5, MemPct: 40,
				DiskFreePct: 7, MetricsAt: t1},
		},
		{
			name: "an offline poll keeps last_seen and the last metrics and records the error",
			updates: []StatusUpdate{
				{Status: StatusOnline, At: t1, HasMetrics: true, CPUPct: 12.5, MemPct: 40, DiskFreePct: 7},
				{Status: StatusOffline, At: t2, LastError: "connection refused"},
			},
			want: Device{Status: StatusOffline, LastSeen: t1, LastError: "connection refused", HasMetrics: true,
				CPUPct: 12.5, MemPct: 40, DiskFreePct: 7, MetricsAt: t1},
		},
		{
			name: "an online poll clears the last error",
			updates: []StatusUpdate{
				{Status: StatusOffline, At: t1, LastError: "timeout"},
				{Status: StatusOnline, At: t2},
			},
			want: Device{Status: StatusOnline, LastSeen: t2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTestDB(t)
			ids := seedDevices(t, db, 1)
			w := NewWriter(db, WriterOptions{})
			w.Start()
			ctx := context.Background()
			for _, u := range tt.updates {
				u.DeviceID = ids[0]
				if err := w.AddStatus(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			d, err := db.DeviceByHostname(ctx, "dev-000")
			if err != nil {
				t.Fatal(err)
			}
			got := Device{Status: d.Status, LastSeen: d.LastSeen, LastError: d.LastError, HasMetrics: d.HasMetrics,
				CPUPct: d.CPUPct, MemPct: d.MemPct, DiskFreePct: d.DiskFreePct, MetricsAt: d.MetricsAt}
			if !got.LastSeen.Equal(tt.want.LastSeen) || !got.MetricsAt.Equal(tt.want.MetricsAt) {
				t.Errorf("times: last_seen %v metrics_at %v, want %v %v", got.LastSeen, got.MetricsAt,
					tt.want.LastSeen, tt.want.MetricsAt)
			}
			got.LastSeen, got.MetricsAt, tt.want.LastSeen, tt.want.MetricsAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("device status\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestWriterDropsRowsOfADeletedDevice(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 2)
	ctx := context.Background()
	if _, err := db.writer.ExecContext(ctx, `DELETE FROM devices WHERE id = ?`, ids[1]); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(db, WriterOptions{})
	w.Start()
	w.AddMetrics(ctx, append(metricsFor(ids[0], 2), metricsFor(ids[1], 3)...))
	w.AddStatus(ctx, StatusUpdate{DeviceID: ids[1], Status: StatusOnline})
	if err := w.Close(); err != nil {
		t.Fatalf("a deleted device failed the batch: %v", err)
	}
	if s := w.Stats(); s.Rows != 2 || s.Dropped != 4 || s.Failed != 0 {
		t.Errorf("stats %+v, want 2 rows, 4 dropped", s)
	}
}

func TestWriterRetriesAFailingCommitThenReportsIt(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 1)
	ctx := context.Background()
	// A trigger stands in for a disk that refuses writes.
	if _, err := db.writer.ExecContext(ctx, `CREATE TEMP TRIGGER refuse BEFORE INSERT ON metrics
		BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`); err != nil {
		t.Fatal(err)
	}
	var reported []error
	var mu sync.Mutex
	w := NewWriter(db, WriterOptions{OnError: func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() }})
	w.Start()
	defer w.Close()
	if err := w.AddMetrics(ctx, metricsFor(ids[0], 4)); err != nil {
		t.Fatal(err)
	}
	err := w.Flush(ctx)
	if !errors.Is(err, ErrWriteFailed) || !strings.Contains(err.Error(), "4 rows lost after 3 attempts") ||
		!strings.Contains(err.Error(), "disk I/O error") || !strings.Contains(err.Error(), db.Path()) {
		t.Errorf("Flush error %v", err)
	}
	if !errors.Is(w.Err(), ErrWriteFailed) {
		t.Errorf("Err() = %v", w.Err())
	}
	mu.Lock()
	if len(reported) != 1 || reported[0] != w.Err() {
		t.Errorf("OnError got %v", reported)
	}
	mu.Unlock()
	if s := w.Stats(); s.Retries != 2 || s.Failed != 4 || s.Rows != 0 {
		t.Errorf("stats %+v, want 2 retries and 4 failed rows", s)
	}

	// Once the disk is back, later batches go through.
	if _, err := db.writer.ExecContext(ctx, `DROP TRIGGER temp.refuse`); err != nil {
		t.Fatal(err)
	}
	w.AddMetrics(ctx, metricsFor(ids[0], 2))
	if err := w.Flush(ctx); err != nil {
		t.Errorf("Flush after recovery: %v", err)
	}
	if n := countMetrics(t, db); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
}

func TestWriterTakesConcurrentAddersWithoutLosingRows(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 20)
	w := NewWriter(db, WriterOptions{BatchRows: 50, FlushInterval: 5 * time.Millisecond, QueueSize: 64})
	w.Start()
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			for i := range 10 {
				if err := w.AddMetrics(ctx, metricsFor(id, 10)); err != nil {
					t.Error(err)
				}
				if err := w.AddStatus(ctx, StatusUpdate{DeviceID: id, Status: StatusOnline, HasMetrics: true,
					CPUPct: float64(i)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countMetrics(t, db); n != 20*10*10 {
		t.Errorf("%d metric rows, want 2000", n)
	}
	if s := w.Stats(); s.Rows != 2000+200 || s.Failed != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestCloseWhileAddersAreBlockedLosesNothing(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 1)
	w := NewWriter(db, WriterOptions{QueueSize: 1, BatchRows: 7})
	w.Start()
	ctx := context.Background()
	var queued atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if err := w.AddMetrics(ctx, metricsFor(ids[0], 1)); err != nil {
					if !errors.Is(err, ErrWriterClosed) {
						t.Error(err)
					}
					return
				}
				queued.Add(1)
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if n := countMetrics(t, db); int64(n) != queued.Load() {
		t.Errorf("%d rows stored, %d accepted by AddMetrics", n, queued.Load())
	}
}

func TestReadersQueryWhileTheWriterCommits(t *testing.T) {
	db := openTestDB(t)
	ids := seedDevices(t, db, 10)
	w := NewWriter(db, WriterOptions{BatchRows: 20, FlushInterval: time.Millisecond})
	w.Start()
	ctx := context.Background()
	done := make(chan struct{})
	var writers sync.WaitGroup
	var reads atomic.Int64
	var batches int
	writers.Go(func() {
		defer close(done)
		// Keep writing until the readers have read a fair amount meanwhile.
		for i := 0; i < 100 || (reads.Load() < 20 && i < 100000); i++ {
			batches++
			id := ids[i%len(ids)]
			if err := w.AddMetrics(ctx, metricsFor(id, 10)); err != nil {
				t.Error(err)
				return
			}
			w.AddStatus(ctx, StatusUpdate{DeviceID: id, Status: StatusOnline})
		}
	})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			last := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				ds, err := db.ListDevices(ctx)
				if err != nil || len(ds) != 10 {
					t.Errorf("ListDevices during writes: %d devices, %v", len(ds), err)
					return
				}
				ms, err := db.MetricsSince(ctx, ids[0], "cpu_pct", time.Time{})
				if err != nil {
					t.Errorf("MetricsSince during writes: %v", err)
					return
				}
				if len(ms) < last {
					t.Errorf("rows went from %d to %d", last, len(ms))
				}
				last = len(ms)
				reads.Add(1)
			}
		})
	}
	writers.Wait()
	readers.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if reads.Load() < 20 {
		t.Errorf("%d reads completed while writing, want 20", reads.Load())
	}
	if n := countMetrics(t, db); n != 10*batches {
		t.Errorf("%d rows, want %d", n, 10*batches)
	}
}
