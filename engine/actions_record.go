package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// A run's fan-out records its progress in batches: each device's start
// (Running) and result, with the result's audit row and, for a command,
// its output keys, go to the store together (store.RecordRunBatch) every
// recordEvery, or as soon as recordBatch results wait. Three commits per
// device (start, result, audit) held a 10,000-device command to about
// three times the network's floor; one commit per batch keeps it near.
// A replay from the offline queue records directly (finishRow).
const (
	recordEvery = 50 * time.Millisecond
	recordBatch = 256
)

// runRecorder batches one run's progress. It is owned by the fan-out:
// newRunRecorder starts its goroutine, close writes what is left and
// stops it.
type runRecorder struct {
	e      *Engine
	ctx    context.Context // not cancelled with the run: what finished is kept
	runID  string
	mu     sync.Mutex
	start  []int64
	result []store.ResultRecord
	kick   chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

func newRunRecorder(ctx context.Context, e *Engine, runID string) *runRecorder {
	r := &runRecorder{e: e, ctx: context.WithoutCancel(ctx), runID: runID,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r
}

func (r *runRecorder) loop() {
	defer close(r.done)
	t := time.NewTicker(recordEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-r.kick:
		case <-r.stop:
			r.flush()
			return
		}
		r.flush()
	}
}

// started records that a device's row is running.
func (r *runRecorder) started(rowID int64) {
	r.mu.Lock()
	r.start = append(r.start, rowID)
	r.mu.Unlock()
}

// finished records a device's result.
func (r *runRecorder) finished(rec store.ResultRecord) {
	r.mu.Lock()
	r.result = append(r.result, rec)
	full := len(r.result) >= recordBatch
	r.mu.Unlock()
	if full {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// flush writes what waits. A failure is Fatal, as a failed result write
// or audit append is: rmm must not go on acting on hosts it cannot
// record.
func (r *runRecorder) flush() {
	r.mu.Lock()
	start, result := r.start, r.result
	r.start, r.result = nil, nil
	r.mu.Unlock()
	if len(start) == 0 && len(result) == 0 {
		return
	}
	if err := r.e.db.RecordRunBatch(r.ctx, start, time.Now().UTC(), result); err != nil {
		r.e.log.Error("record action results", "run", r.runID, "results", len(result), "err", err)
		r.e.setFatal(&winrm.Error{Class: winrm.ClassFatal, Step: "record action results", Err: err})
	}
}

// close writes what is left and stops the recorder.
func (r *runRecorder) close() {
	close(r.stop)
	<-r.done
}

// resultRecord is what a device's finished result writes: its row, its
// audit entry (the engine's record of the result, as auditResult writes
// it) and a command's output keys.
func (e *Engine) resultRecord(id Identity, p *runPlan, row store.ActionRow, host string, out actionOutcome, replay bool) store.ResultRecord {
	dr := deviceResult{runID: p.id, action: p.spec.Name, host: host, status: out.status, message: oneLine(out.message),
		requestedBy: p.requestedBy, attempts: out.attempts, replay: replay}
	result := store.AuditSuccess
	var err error
	switch out.status {
	case ActionFailed, ActionCancelled, ActionExpired:
		result, err = store.AuditFailure, errors.New(dr.message)
	}
	rec := store.ResultRecord{Row: row, Audit: auditEntry(id, dr, result, err, 0)}
	if p.command {
		plain, masked := outputKeys(out, host)
		rec.Keys = &[2]string{plain, masked}
	}
	return rec
}
