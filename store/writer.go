package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
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
	QueueSize     int           // calls (AddMetrics, AddStatus, AddAlerts) queued before Add blocks (default 10000)
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
	Failed  int64 // rows lost because every attempt failed, and alert changes the store refused
	Dropped int64 // rows that named a device no longer in the database
}

// Writer is the single writer for high-volume rows: poll metrics, device
// status and the alert changes polls find. Add queues rows; one goroutine
// commits them in batches, one transaction per batch, when BatchRows rows
// are pending or FlushInterval has passed since the first pending row,
// whichever comes first. Metrics go in as multi-row INSERTs and statuses
// as multi-row UPDATEs; every statement is prepared once for the writer's
// life. Rows for a device deleted meanwhile are dropped, not failed.
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

	// Owned by the writer's goroutine: statements prepared once on the
	// writer connection and bound to each batch transaction (the SQL text
	// is parsed once, not once per row), and reused argument space.
	stmts     map[string]*sql.Stmt
	metricSQL [len(chunkSizes)]string // the metrics INSERT of each chunk size
	statusSQL [len(chunkSizes)]string // the status UPDATE of each chunk size
	metrics   []Metric
	statuses  []*StatusUpdate
	args      []any
}

// entry is one queued item: the metric rows of one AddMetrics call (one
// poll's, committed in one transaction), a status row, the alert changes
// of one AddAlerts call, or a flush request (flush != nil) that is
// answered once what precedes it is committed.
type entry struct {
	metrics []Metric
	status  *StatusUpdate
	alerts  *alertBatch
	flush   chan error
}

// rows is how many rows the entry counts for in a batch.
func (e *entry) rows() int {
	switch {
	case e.alerts != nil:
		return len(e.alerts.ops)
	case e.status != nil:
		return len(e.metrics) + 1 // a poll: its metrics and its status
	case e.metrics != nil:
		return len(e.metrics)
	}
	return 1
}

// alertBatch is one AddAlerts call: its changes, in order, and who wants
// to hear how they went.
type alertBatch struct {
	ops     []AlertOp
	done    func([]AlertResult)
	results []AlertResult // the last attempt's
}

// AlertOp is one alert change the Writer carries out in a batch
// (AddAlerts): a detection recorded by RecordAlert's rules, or, with
// Resolve, the auto-resolution of the detection key's unresolved alert by
// ResolvedBy at the detection's At (AutoResolveAlert's rules).
type AlertOp struct {
	Detection   AlertDetection
	ReopenSince time.Time // a detection: reopen an alert of the key resolved at or after this
	Resolve     bool
	ResolvedBy  string
}

// AlertResult is what the Writer did with one AlertOp.
type AlertResult struct {
	Alert    Alert       // the alert as stored after the change; zero when nothing changed
	Change   AlertChange // a detection: inserted, bumped or reopened
	Resolved bool        // a resolution: the key had an unresolved alert, now resolved
	Dropped  bool        // the device was deleted meanwhile: nothing was written
	Err      error       // this change failed and was undone (or its batch was lost); the rest stand
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
	w := &Writer{
		db:      db,
		opts:    opts,
		queue:   make(chan entry, opts.QueueSize),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	for i, n := range chunkSizes {
		w.metricSQL[i] = valuesSQL(insertMetricsHead, insertMetricsRow, insertMetricsTail, n)
		w.statusSQL[i] = valuesSQL(updateStatusHead, updateStatusRow, updateStatusTail, n)
	}
	return w
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
	if len(ms) == 0 {
		return nil
	}
	// One entry for the call: its rows are committed together, and the
	// caller's slice is not kept.
	rows := slices.Clone(ms)
	for i := range rows {
		if rows[i].At.IsZero() {
			rows[i].At = now
		}
	}
	return w.send(ctx, "add metrics", entry{metrics: rows})
}

// AddPoll queues everything one poll produced, its metric rows and its
// status, as one entry: a batch never holds part of it, so a crash
// commits all of the poll or none of it (reliability report F9: the
// poll_ok row committed without the metrics of the same poll). A zero At
// is taken as now. Invalid rows or status are refused before anything is
// queued. It blocks only while the queue is full, until ctx is done.
func (w *Writer) AddPoll(ctx context.Context, ms []Metric, s StatusUpdate) error {
	now := time.Now()
	for i, m := range ms {
		if err := checkMetric(m); err != nil {
			return fmt.Errorf("add poll: row %d: %w", i+1, err)
		}
	}
	if err := checkStatus(s); err != nil {
		return fmt.Errorf("add poll: %w", err)
	}
	if s.At.IsZero() {
		s.At = now
	}
	var rows []Metric
	if len(ms) > 0 {
		rows = slices.Clone(ms)
		for i := range rows {
			if rows[i].At.IsZero() {
				rows[i].At = now
			}
		}
	}
	return w.send(ctx, "add poll", entry{metrics: rows, status: &s})
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
	if err := checkStatus(s); err != nil {
		return fmt.Errorf("add status: %w", err)
	}
	if s.At.IsZero() {
		s.At = time.Now()
	}
	return w.send(ctx, "add status", entry{status: &s})
}

func checkStatus(s StatusUpdate) error {
	switch {
	case s.DeviceID <= 0:
		return fmt.Errorf("device id %d", s.DeviceID)
	case s.Status != StatusOnline && s.Status != StatusOffline && s.Status != StatusUnknown:
		return fmt.Errorf("device %d: status %q: want Online, Offline or Unknown", s.DeviceID, s.Status)
	case s.HasMetrics && !(finite(s.CPUPct) && finite(s.MemPct) && finite(s.DiskFreePct)):
		return fmt.Errorf("device %d: metrics are not finite numbers", s.DeviceID)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// AddAlerts queues alert changes, carried out in order in the next batch
// transaction, each undone alone when the store refuses it. Once the batch
// is committed (or lost), done is called from the writer's goroutine with
// one result per op, in order: so the owner learns each alert as stored,
// in the order it asked, without waiting for SQLite in its own goroutine.
// done must not block nor call the Writer's blocking methods; a Flush
// returns only after the done of every change queued before it. It blocks
// only while the queue is full, until ctx is done. Invalid ops (no type, a
// severity rmm does not write) are refused before any is queued.
func (w *Writer) AddAlerts(ctx context.Context, ops []AlertOp, done func([]AlertResult)) error {
	if len(ops) == 0 {
		return nil
	}
	for i, op := range ops {
		err := checkDetection(op.Detection)
		if op.Resolve && op.Detection.Key.Type != "" {
			err = nil // a resolution carries no severity
		}
		if err != nil {
			return fmt.Errorf("add alerts: change %d: %w", i+1, err)
		}
	}
	b := &alertBatch{ops: ops, done: done}
	return w.send(ctx, "add alerts", entry{alerts: b})
}

// send queues one entry: nothing of it is queued when ctx ends first.
func (w *Writer) send(ctx context.Context, op string, e entry) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return fmt.Errorf("%s: %w", op, ErrWriterClosed)
	}
	select {
	case w.queue <- e:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
}

// Flush commits every row queued before the call and waits for the commit.
// It returns the commit's error, if any. The writer must be started.
func (w *Writer) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	if err := w.send(ctx, "flush", entry{flush: reply}); err != nil {
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
	defer w.closeStmts()
	pending := make([]entry, 0, w.opts.BatchRows)
	rows := 0
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
		pending, rows = pending[:0], 0
		return err
	}
	handle := func(e entry) {
		if e.flush != nil {
			e.flush <- commit()
			return
		}
		pending = append(pending, e)
		if rows += e.rows(); rows >= w.opts.BatchRows {
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
// reports the rows as lost when every attempt failed. Then it tells the
// owners of the batch's alert changes how they went.
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
		var written, dropped, refused int64
		if written, dropped, refused, err = w.write(batch); err == nil {
			w.rows.Add(written)
			w.dropped.Add(dropped)
			w.failed.Add(refused)
			w.batches.Add(1)
			w.answer(batch, nil)
			return nil
		}
	}
	lost := 0
	for i := range batch {
		lost += batch[i].rows()
	}
	err = fmt.Errorf("%w: %s: %d rows lost after %d attempts: %w",
		ErrWriteFailed, w.db.path, lost, writeAttempts, err)
	w.failed.Add(int64(lost))
	w.errMu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.errMu.Unlock()
	w.answer(batch, err)
	if w.opts.OnError != nil {
		w.opts.OnError(err)
	}
	return err
}

// answer calls the done of every alert change in batch, in queue order:
// with the committed attempt's results, or with lost set to the error
// that lost them.
func (w *Writer) answer(batch []entry, lost error) {
	for i := range batch {
		b := batch[i].alerts
		if b == nil {
			continue
		}
		res := b.results
		if lost != nil || len(res) != len(b.ops) {
			res = make([]AlertResult, len(b.ops))
			for j := range res {
				res[j].Err = cmp.Or(lost, errors.New("not written"))
			}
		}
		if b.done != nil {
			b.done(res)
		}
	}
}

// The writer's multi-row statements are a head, one row of parameters per
// row written, and a tail (valuesSQL).
const (
	// The metrics INSERT skips rows of a device deleted meanwhile.
	insertMetricsHead = `INSERT INTO metrics (device_id, type, instance, value, ts)
		SELECT column1, column2, column3, column4, column5 FROM (VALUES `
	insertMetricsRow  = `(?,?,?,?,?)`
	insertMetricsTail = `) WHERE EXISTS (SELECT 1 FROM devices WHERE id = column1)`

	// The status UPDATE takes one row per device: (status, at, last_error,
	// has_metrics, cpu_pct, mem_pct, disk_free_pct, device id). last_seen
	// moves only on an Online poll, the metric columns only when the poll
	// returned metrics. A row of a device deleted meanwhile matches
	// nothing. The device ids of one statement must be distinct: UPDATE
	// FROM applies one arbitrary row of those that match a device.
	updateStatusHead = `UPDATE devices SET
		status        = v.column1,
		last_seen     = CASE WHEN v.column1 = 'Online' THEN v.column2 ELSE devices.last_seen END,
		last_error    = v.column3,
		cpu_pct       = CASE WHEN v.column4 THEN v.column5 ELSE devices.cpu_pct END,
		mem_pct       = CASE WHEN v.column4 THEN v.column6 ELSE devices.mem_pct END,
		disk_free_pct = CASE WHEN v.column4 THEN v.column7 ELSE devices.disk_free_pct END,
		metrics_at    = CASE WHEN v.column4 THEN v.column2 ELSE devices.metrics_at END
		FROM (VALUES `
	updateStatusRow  = `(?,?,?,?,?,?,?,?)`
	updateStatusTail = `) AS v WHERE devices.id = v.column8`

	savepointAlert = `SAVEPOINT alert`
	releaseAlert   = `RELEASE alert`
	rollbackAlert  = `ROLLBACK TO alert`
)

// chunkSizes are the row counts of the prepared multi-row statements, the
// largest first: a batch's rows go in as few statements as these sizes
// add up to (100 metric rows: 3 x 32 + 4; 13 statuses: 8 + 4 + 1). Each
// statement has a fixed cost (database/sql, binding, opening and closing
// SQLite's cursors) that the rows of a larger one share. A statement of
// more than 32 rows costs more than it saves: its statement journal
// outgrows SQLite's in-memory limit and spills to a temporary file.
var chunkSizes = [...]int{32, 16, 8, 4, 2, 1}

// chunkFor returns the index in chunkSizes of the largest size that is at
// most n (n >= 1): the next statement of a run of n rows.
func chunkFor(n int) int {
	for i, size := range chunkSizes {
		if size <= n {
			return i
		}
	}
	return len(chunkSizes) - 1
}

// valuesSQL is the multi-row statement head, n times row, tail.
func valuesSQL(head, row, tail string, n int) string {
	var b strings.Builder
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	return b.String()
}

// queries lists every statement the writer prepares.
func (w *Writer) queries() []string {
	qs := []string{savepointAlert, releaseAlert, rollbackAlert, deviceKnownSQL,
		bumpAlertSQL, recentlyResolvedSQL, reopenAlertSQL, insertAlertSQL, autoResolveAlertSQL, alertByIDSQL}
	qs = append(qs, w.metricSQL[:]...)
	return append(qs, w.statusSQL[:]...)
}

// prepare prepares the writer's statements on the writer connection, once
// (outside any transaction: the one connection is the transaction's).
func (w *Writer) prepare(ctx context.Context) error {
	if w.stmts != nil {
		return nil
	}
	stmts := make(map[string]*sql.Stmt)
	for _, q := range w.queries() {
		st, err := w.db.writer.PrepareContext(ctx, q)
		if err != nil {
			for _, s := range stmts {
				s.Close()
			}
			return fmt.Errorf("prepare: %w", err)
		}
		stmts[q] = st
	}
	w.stmts = stmts
	return nil
}

func (w *Writer) closeStmts() {
	for _, s := range w.stmts {
		s.Close()
	}
	w.stmts = nil
}

// batchTx is one batch transaction with the writer's statements bound to
// it on first use; it runs the alert lifecycle's queries (alertQueries).
type batchTx struct {
	tx    *sql.Tx
	w     *Writer
	bound map[string]*sql.Stmt
}

func (b *batchTx) stmt(ctx context.Context, q string) *sql.Stmt {
	if s, ok := b.bound[q]; ok {
		return s
	}
	p, ok := b.w.stmts[q]
	if !ok {
		return nil
	}
	s := b.tx.StmtContext(ctx, p) // closed with the transaction
	b.bound[q] = s
	return s
}

// QueryRowContext runs q's prepared statement, or q as text when the
// writer did not prepare it.
func (b *batchTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if s := b.stmt(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return b.tx.QueryRowContext(ctx, q, args...)
}

// ExecContext runs q's prepared statement, or q as text.
func (b *batchTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := b.stmt(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return b.tx.ExecContext(ctx, q, args...)
}

// write runs one attempt at committing batch. It returns how many rows
// were written, how many named a device that no longer exists and how
// many alert changes the store refused (each undone alone; their results
// say why).
func (w *Writer) write(batch []entry) (written, dropped, refused int64, err error) {
	ctx := context.Background() // the writer's own work; bounded by busy_timeout
	if err := w.prepare(ctx); err != nil {
		return 0, 0, 0, err
	}
	err = w.db.writeTx(ctx, func(tx *sql.Tx) error {
		bt := &batchTx{tx: tx, w: w, bound: make(map[string]*sql.Stmt, 8)}
		// Metrics are independent rows: all of the batch's go in first,
		// in multi-row INSERTs. Statuses follow in multi-row UPDATEs, in
		// queue order, which is each device's order. Alert changes come
		// last, in queue order. Writing every status before the alert
		// changes queued between them gives the same result as queue
		// order: the alert statements (alerts.go: deviceKnownSQL,
		// bumpAlertSQL ... alertByIDSQL, selectAlert's join) read only
		// devices.id and devices.hostname, which no status update
		// writes; neither kind inserts or deletes devices, and a status
		// update reads nothing the alert changes write. Should an alert
		// statement ever read a column the status UPDATE writes, statuses
		// must be flushed before each alert entry instead.
		ms, ss := w.metrics[:0], w.statuses[:0]
		for i := range batch {
			e := &batch[i]
			if e.alerts != nil {
				continue
			}
			ms = append(ms, e.metrics...) // AddMetrics, and a poll's rows (AddPoll)
			if e.status != nil {
				ss = append(ss, e.status)
			}
		}
		w.metrics, w.statuses = ms, ss
		defer func() {
			clear(w.metrics) // drop references to the rows' strings
			clear(w.statuses)
		}()
		n, err := w.insertMetrics(ctx, bt, ms)
		if err != nil {
			return err
		}
		written += n
		dropped += int64(len(ms)) - n
		if n, err = w.updateStatuses(ctx, bt, ss); err != nil {
			return err
		}
		written += n
		dropped += int64(len(ss)) - n
		for i := range batch {
			if b := batch[i].alerts; b != nil {
				wr, dr, rf, err := w.writeAlerts(ctx, bt, b)
				if err != nil {
					return err
				}
				written, dropped, refused = written+wr, dropped+dr, refused+rf
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, 0, err
	}
	return written, dropped, refused, nil
}

// insertMetrics inserts ms with the prepared multi-row INSERTs and
// returns how many rows went in (the others named a deleted device).
func (w *Writer) insertMetrics(ctx context.Context, bt *batchTx, ms []Metric) (int64, error) {
	var inserted int64
	for len(ms) > 0 {
		c := chunkFor(len(ms))
		n := chunkSizes[c]
		chunk := ms[:n]
		ms = ms[n:]
		args := w.args[:0]
		for i := range chunk {
			m := &chunk[i]
			args = append(args, m.DeviceID, m.Type, m.Instance, m.Value, toMS(m.At))
		}
		k, err := w.execChunk(ctx, bt, w.metricSQL[c], args, n)
		if err != nil {
			m := chunk[0]
			return inserted, fmt.Errorf("insert %d metrics (first %s of device %d): %w", n, m.Type, m.DeviceID, err)
		}
		inserted += k
	}
	return inserted, nil
}

// updateStatuses writes ss, in order, with the prepared multi-row UPDATEs
// and returns how many rows were written (the others named a deleted
// device). A statement never holds two updates of one device: a repeated
// device starts the next statement, so the later update applies last and
// each statement's changed-row count is its matched updates.
func (w *Writer) updateStatuses(ctx context.Context, bt *batchTx, ss []*StatusUpdate) (int64, error) {
	var updated int64
	for len(ss) > 0 {
		c := chunkFor(distinctDevices(ss, chunkSizes[0]))
		n := chunkSizes[c]
		chunk := ss[:n]
		ss = ss[n:]
		args := w.args[:0]
		for _, s := range chunk {
			args = append(args, s.Status, toMS(s.At), s.LastError, s.HasMetrics, s.CPUPct, s.MemPct, s.DiskFreePct,
				s.DeviceID)
		}
		k, err := w.execChunk(ctx, bt, w.statusSQL[c], args, n)
		if err != nil {
			return updated, fmt.Errorf("update status of %d devices (first device %d): %w", n, chunk[0].DeviceID, err)
		}
		updated += k
	}
	return updated, nil
}

// distinctDevices returns how many of the first updates of ss, at most
// limit, name distinct devices.
func distinctDevices(ss []*StatusUpdate, limit int) int {
	n := min(len(ss), limit)
	for i := 1; i < n; i++ {
		for _, s := range ss[:i] {
			if s.DeviceID == ss[i].DeviceID {
				return i
			}
		}
	}
	return n
}

// execChunk runs q, a multi-row statement of rows rows, with args (kept
// as the writer's argument space) and returns how many rows it changed.
func (w *Writer) execChunk(ctx context.Context, bt *batchTx, q string, args []any, rows int) (int64, error) {
	w.args = args
	res, err := bt.ExecContext(ctx, q, args...)
	clear(w.args) // drop references to the rows' strings
	if err != nil {
		return 0, err
	}
	if k, err := res.RowsAffected(); err == nil {
		return k, nil
	}
	return int64(rows), nil
}

// writeAlerts carries out one AddAlerts call's changes, each inside a
// savepoint so a change the store refuses is undone alone. An error
// returned fails the whole batch (the transaction itself broke).
func (w *Writer) writeAlerts(ctx context.Context, bt *batchTx, b *alertBatch) (written, dropped, refused int64, err error) {
	b.results = b.results[:0]
	for _, op := range b.ops {
		var r AlertResult
		k := op.Detection.Key
		known := true
		if k.DeviceID != 0 {
			if err := bt.QueryRowContext(ctx, deviceKnownSQL, k.DeviceID).Scan(&known); err != nil {
				return 0, 0, 0, fmt.Errorf("alert of device %d: %w", k.DeviceID, err)
			}
		}
		if !known {
			r.Dropped = true
			dropped++
			b.results = append(b.results, r)
			continue
		}
		if _, err := bt.ExecContext(ctx, savepointAlert); err != nil {
			return 0, 0, 0, fmt.Errorf("alert savepoint: %w", err)
		}
		var opErr error
		if op.Resolve {
			r.Alert, r.Resolved, opErr = autoResolveAlertIn(ctx, bt, k, op.ResolvedBy, op.Detection.At)
			if opErr != nil {
				opErr = autoResolveError(k, opErr)
			}
		} else {
			r.Alert, r.Change, opErr = recordAlertIn(ctx, bt, op.Detection, op.ReopenSince)
			if opErr != nil {
				opErr = recordAlertError(k, opErr)
			}
		}
		if opErr != nil {
			r = AlertResult{Err: opErr}
			refused++
			if _, err := bt.ExecContext(ctx, rollbackAlert); err != nil {
				return 0, 0, 0, fmt.Errorf("undo a refused alert change: %w (after %w)", err, opErr)
			}
		} else {
			written++
		}
		if _, err := bt.ExecContext(ctx, releaseAlert); err != nil {
			return 0, 0, 0, fmt.Errorf("alert savepoint: %w", err)
		}
		b.results = append(b.results, r)
	}
	return written, dropped, refused, nil
}
