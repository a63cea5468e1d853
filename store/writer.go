package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Writer defaults.
const (
	DefaultBatchRows     = 100
	DefaultFlushInterval = time.Second
	DefaultQueueSize     = 10000
)

// writeAttempts is how often a batch is tried before its rows are given up.
const writeAttempts = 3

// firstBackoff is the pause before the first retry; it doubles after.
const firstBackoff = 20 * time.Millisecond

// ErrWriterClosed is returned by Add and Flush after Close.
var ErrWriterClosed = errors.New("store writer is closed")

// ErrWriteFailed is wrapped by the error a Writer reports when a batch
// could not be committed after every attempt: its rows are lost and the
// database is probably unwritable (disk full, corrupt, read-only), which
// the engine treats as Fatal.
var ErrWriteFailed = errors.New("store write failed")

// WriterOptions tunes a Writer. The zero value gives the defaults.
type WriterOptions struct {
	BatchRows     int           // commit when this many rows are pending (default 100)
	FlushInterval time.Duration // or when the oldest pending row is this old (default 1s)
	QueueSize     int           // rows queued before Add blocks (default 10000)
	// OnError is called from the writer's goroutine with each error that
	// lost rows (it wraps ErrWriteFailed). It must not call the Writer's
	// blocking methods (Flush, Close, Add with a full queue).
	OnError func(error)
}

// WriterStats counts what a Writer did since it was made.
type WriterStats struct {
	Rows    int64 // rows committed (metrics inserted, statuses written)
	Batches int64 // transactions committed
	Retries int64 // commit attempts repeated after a failure
	Failed  int64 // rows lost because every attempt failed
	Dropped int64 // rows that named a device no longer in the database
}

// Writer is the single writer for high-volume rows: poll metrics and
// device status. Add queues rows; one goroutine commits them in batches,
// one transaction per batch, when BatchRows rows are pending or
// FlushInterval has passed since the first pending row, whichever comes
// first. Rows for a device deleted meanwhile are dropped, not failed.
//
// The owner calls Start once and Close when done; Close flushes.
type Writer struct {
	db    *DB
	opts  WriterOptions
	queue chan entry

	startOnce sync.Once
	closeOnce sync.Once
	stop      chan struct{} // closed by Close: drain, flush, exit
	stopped   chan struct{} // closed by the goroutine when it exits
	closeErr  error

	// mu orders Add/Flush against Close: senders hold it shared while they
	// send, Close takes it exclusively to set closed, so no row can be
	// queued after the goroutine's final drain.
	mu     sync.RWMutex
	closed bool

	errMu sync.Mutex
	err   error

	rows, batches, retries, failed, dropped atomic.Int64
}

// entry is one queued item: a metric row, a status row, or a flush
// request (flush != nil) that is answered once what precedes it is committed.
type entry struct {
	metric Metric
	status *StatusUpdate
	flush  chan error
}

// NewWriter returns a Writer on db. It does nothing until Start.
func NewWriter(db *DB, opts WriterOptions) *Writer {
	if opts.BatchRows <= 0 {
		opts.BatchRows = DefaultBatchRows
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	return &Writer{
		db:      db,
		opts:    opts,
		queue:   make(chan entry, opts.QueueSize),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
}

// Start starts the writer's goroutine. Calling it again does nothing.
// Close stops the goroutine.
func (w *Writer) Start() {
	w.startOnce.Do(func() { go w.run() })
}

// AddMetrics queues metric rows. A zero At is taken as now. It blocks only
// while the queue is full, until ctx is done. Invalid rows (no device, no
// type, a value that is not a finite number) are refused before any row
// of the call is queued.
func (w *Writer) AddMetrics(ctx context.Context, ms []Metric) error {
	now := time.Now()
	for i, m := range ms {
		if err := checkMetric(m); err != nil {
			return fmt.Errorf("add metrics: row %d: %w", i+1, err)
		}
	}
	return w.send(ctx, "add metrics", len(ms), func(i int) entry {
		m := ms[i]
		if m.At.IsZero() {
			m.At = now
		}
		return entry{metric: m}
	})
}

func checkMetric(m Metric) error {
	switch {
	case m.DeviceID <= 0:
		return fmt.Errorf("device id %d", m.DeviceID)
	case m.Type == "":
		return errors.New("empty metric type")
	case math.IsNaN(m.Value) || math.IsInf(m.Value, 0):
		return fmt.Errorf("%s: value %v is not a finite number", m.Type, m.Value)
	}
	return nil
}

// AddStatus queues the outcome of one poll. It blocks only while the queue
// is full, until ctx is done. A zero At is taken as now.
func (w *Writer) AddStatus(ctx context.Context, s StatusUpdate) error {
	switch {
	case s.DeviceID <= 0:
		return fmt.Errorf("add status: device id %d", s.DeviceID)
	case s.Status != StatusOnline && s.Status != StatusOffline && s.Status != StatusUnknown:
		return fmt.Errorf("add status: device %d: status %q: want Online, Offline or Unknown", s.DeviceID, s.Status)
	case s.HasMetrics && !(finite(s.CPUPct) && finite(s.MemPct) && finite(s.DiskFreePct)):
		return fmt.Errorf("add status: device %d: metrics are not finite numbers", s.DeviceID)
	}
	if s.At.IsZero() {
		s.At = time.Now()
	}
	return w.send(ctx, "add status", 1, func(int) entry { return entry{status: &s} })
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// send queues n entries made by mk, in order.
func (w *Writer) send(ctx context.Context, op string, n int, mk func(i int) entry) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return fmt.Errorf("%s: %w", op, ErrWriterClosed)
	}
	for i := range n {
		select {
		case w.queue <- mk(i):
		case <-ctx.Done():
			return fmt.Errorf("%s: queued %d of %d rows: %w", op, i, n, ctx.Err())
		}
	}
	return nil
}

// Flush commits every row queued before the call and waits for the commit.
// It returns the commit's error, if any. The writer must be started.
func (w *Writer) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	if err := w.send(ctx, "flush", 1, func(int) entry { return entry{flush: reply} }); err != nil {
		return err
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("flush: %w", ctx.Err())
	}
}

// Close refuses new rows, commits what is queued, stops the goroutine and
// returns the error of that last commit (Err has the first failure of the
// writer's life). Calling it again returns the same. A writer that was
// never started is started to drain its queue.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() {
		w.Start()
		w.mu.Lock() // waits for senders, which the running goroutine unblocks
		w.closed = true
		w.mu.Unlock()
		close(w.stop)
		<-w.stopped
	})
	return w.closeErr
}

// Err returns the first error that lost rows, or nil.
func (w *Writer) Err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// Stats returns the writer's counters so far.
func (w *Writer) Stats() WriterStats {
	return WriterStats{
		Rows:    w.rows.Load(),
		Batches: w.batches.Load(),
		Retries: w.retries.Load(),
		Failed:  w.failed.Load(),
		Dropped: w.dropped.Load(),
	}
}

// run is the writer's goroutine: it owns the pending batch and the timer.
func (w *Writer) run() {
	defer close(w.stopped)
	pending := make([]entry, 0, w.opts.BatchRows)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	timing := false

	commit := func() error {
		if timing {
			timer.Stop()
			timing = false
		}
		err := w.commit(pending)
		clear(pending) // drop references to the rows' strings
		pending = pending[:0]
		return err
	}
	handle := func(e entry) {
		if e.flush != nil {
			e.flush <- commit()
			return
		}
		pending = append(pending, e)
		if len(pending) >= w.opts.BatchRows {
			commit()
			return
		}
		if !timing {
			timer.Reset(w.opts.FlushInterval)
			timing = true
		}
	}

	for {
		select {
		case e := <-w.queue:
			handle(e)
		case <-timer.C:
			timing = false
			commit()
		case <-w.stop:
			// Close holds no sender any more: what is queued is all there is.
			for drained := false; !drained; {
				select {
				case e := <-w.queue:
					handle(e)
				default:
					drained = true
				}
			}
			w.closeErr = commit()
			return
		}
	}
}

// commit writes batch in one transaction, retrying a failed attempt, and
// reports the rows as lost when every attempt failed.
func (w *Writer) commit(batch []entry) error {
	if len(batch) == 0 {
		return nil
	}
	var err error
	backoff := firstBackoff
	for attempt := 1; attempt <= writeAttempts; attempt++ {
		if attempt > 1 {
			w.retries.Add(1)
			time.Sleep(backoff)
			backoff *= 2
		}
		var written, dropped int64
		if written, dropped, err = w.write(batch); err == nil {
			w.rows.Add(written)
			w.dropped.Add(dropped)
			w.batches.Add(1)
			return nil
		}
	}
	err = fmt.Errorf("%w: %s: %d rows lost after %d attempts: %w",
		ErrWriteFailed, w.db.path, len(batch), writeAttempts, err)
	w.failed.Add(int64(len(batch)))
	w.errMu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.errMu.Unlock()
	if w.opts.OnError != nil {
		w.opts.OnError(err)
	}
	return err
}

const (
	insertMetric = `INSERT INTO metrics (device_id, type, instance, value, ts)
		SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM devices WHERE id = ?1)`
	updateStatus = `UPDATE devices SET
		status        = ?1,
		last_seen     = CASE WHEN ?1 = 'Online' THEN ?2 ELSE last_seen END,
		last_error    = ?3,
		cpu_pct       = CASE WHEN ?4 THEN ?5 ELSE cpu_pct END,
		mem_pct       = CASE WHEN ?4 THEN ?6 ELSE mem_pct END,
		disk_free_pct = CASE WHEN ?4 THEN ?7 ELSE disk_free_pct END,
		metrics_at    = CASE WHEN ?4 THEN ?2 ELSE metrics_at END
		WHERE id = ?8`
)

// write runs one attempt at committing batch. It returns how many rows
// were written and how many named a device that no longer exists.
func (w *Writer) write(batch []entry) (written, dropped int64, err error) {
	ctx := context.Background() // the writer's own work; bounded by busy_timeout
	err = w.db.writeTx(ctx, func(tx *sql.Tx) error {
		var metricStmt, statusStmt *sql.Stmt
		defer func() {
			if metricStmt != nil {
				metricStmt.Close()
			}
			if statusStmt != nil {
				statusStmt.Close()
			}
		}()
		prepare := func(dst **sql.Stmt, q string) error {
			if *dst != nil {
				return nil
			}
			s, err := tx.PrepareContext(ctx, q)
			if err != nil {
				return fmt.Errorf("prepare: %w", err)
			}
			*dst = s
			return nil
		}
		for _, e := range batch {
			var res sql.Result
			if e.status == nil {
				if err := prepare(&metricStmt, insertMetric); err != nil {
					return err
				}
				m := e.metric
				if res, err = metricStmt.ExecContext(ctx, m.DeviceID, m.Type, m.Instance, m.Value, toMS(m.At)); err != nil {
					return fmt.Errorf("insert metric %s of device %d: %w", m.Type, m.DeviceID, err)
				}
			} else {
				if err := prepare(&statusStmt, updateStatus); err != nil {
					return err
				}
				s := e.status
				if res, err = statusStmt.ExecContext(ctx, s.Status, toMS(s.At), s.LastError, s.HasMetrics,
					s.CPUPct, s.MemPct, s.DiskFreePct, s.DeviceID); err != nil {
					return fmt.Errorf("update status of device %d: %w", s.DeviceID, err)
				}
			}
			if n, err := res.RowsAffected(); err == nil && n == 0 {
				dropped++
			} else {
				written++
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return written, dropped, nil
}
