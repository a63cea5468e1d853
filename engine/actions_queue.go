package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rmmhq/rmm/store"
)

// The offline queue: an action whose device could not be reached waits in
// the offline_queue table (it survives restarts) until the device is seen
// online again, or until its expiry. Whichever rmm process sees the
// device come back replays its entries, in enqueue order, each once: an
// entry is claimed (Pending -> Replaying) in one UPDATE, so two processes
// on one database never both run it.
//
// Replays start when
//   - a poll finds a device Online that was Offline or Unknown
//     (onDeviceOnline, called from record), and
//   - every ActionOptions.QueueCheck, for devices with Pending entries
//     that this engine sees Online (entries a short-lived rmm process,
//     such as `rmm action run`, queued for a device that came back since).
// The same check marks entries past their expiry Expired.

// onDeviceStatus is called with every poll's outcome. A device this
// engine sees Online for the first time, or again after it was not, gets
// its queued actions replayed in the background. It only notes the device
// and wakes the janitor, which looks the queue up once for every device
// that came online since (a fleet's first sweep costs one query, not one
// per device).
func (e *Engine) onDeviceStatus(d store.Device, st Status) {
	if e.act == nil {
		return
	}
	b := e.act
	b.mu.Lock()
	if st != StatusOnline {
		delete(b.online, d.ID)
		b.mu.Unlock()
		return
	}
	if b.online[d.ID] {
		b.mu.Unlock()
		return
	}
	b.online[d.ID] = true
	b.cameOnline[d.ID] = true
	b.mu.Unlock()
	e.patchDeviceOnline(d.ID) // its queued patch jobs are due
	select {
	case b.kick <- struct{}{}:
	default: // already signalled; the set is taken whole
	}
}

// replay starts replaying a device's queue unless it already runs here;
// a device that comes back during its replay is replayed once more after.
func (b *actionBook) replay(deviceID int64) {
	b.mu.Lock()
	if b.replaying[deviceID] {
		b.again[deviceID] = true
		b.mu.Unlock()
		return
	}
	b.replaying[deviceID] = true
	b.mu.Unlock()
	started := b.spawn(true, func(ctx context.Context) {
		for {
			b.e.replayDevice(ctx, deviceID)
			b.mu.Lock()
			if !b.again[deviceID] || ctx.Err() != nil {
				delete(b.replaying, deviceID)
				delete(b.again, deviceID)
				b.mu.Unlock()
				return
			}
			delete(b.again, deviceID)
			b.mu.Unlock()
		}
	})
	if !started {
		b.mu.Lock()
		delete(b.replaying, deviceID)
		b.mu.Unlock()
	}
}

// janitor expires entries and replays the queues of online devices every
// QueueCheck, and the queues of devices that came back when kicked, until
// the engine closes.
func (b *actionBook) janitor() {
	defer b.wg.Done()
	t := time.NewTimer(b.e.actionOptions().QueueCheck)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.kick:
			b.mu.Lock()
			back := b.cameOnline
			b.cameOnline = map[int64]bool{}
			b.mu.Unlock()
			b.e.replayQueued(b.ctx, back)
		case <-t.C:
			b.e.CheckQueue(b.ctx)
			t.Reset(b.e.actionOptions().QueueCheck)
		}
	}
}

// CheckQueue does now what the janitor does every ActionOptions.QueueCheck:
// it marks the entries past their expiry Expired, then replays the queues
// of the devices this engine sees Online.
func (e *Engine) CheckQueue(ctx context.Context) {
	if err := e.expireQueue(ctx); err != nil {
		e.log.Warn("expire offline queue", "err", err)
	}
	e.replayQueued(ctx, nil)
}

// replayQueued starts the replay of every device with Pending entries
// that is in only (nil: that this engine sees Online).
func (e *Engine) replayQueued(ctx context.Context, only map[int64]bool) {
	if only != nil && len(only) == 0 {
		return
	}
	ids, err := e.db.DevicesWithPending(ctx)
	if err != nil {
		e.log.Warn("read offline queue", "err", err)
		return
	}
	for _, id := range ids {
		if only != nil {
			if only[id] {
				e.act.replay(id)
			}
			continue
		}
		e.mu.RLock()
		en, ok := e.devices[id]
		online := ok && en.state.Status == StatusOnline
		e.mu.RUnlock()
		if online {
			e.act.replay(id)
		}
	}
}

// expireQueue marks the entries past their expiry Expired and audits each.
func (e *Engine) expireQueue(ctx context.Context) error {
	ended, err := e.db.ExpireQueue(context.WithoutCancel(ctx), time.Now().UTC())
	if err != nil {
		return err
	}
	for _, q := range ended {
		e.log.Info("queued action expired", "device", q.Host, "action", q.Action, "queue_id", q.ID, "run", q.RunID)
		e.auditResult(ctx, SystemIdentity(), &runPlan{id: q.RunID, spec: ActionSpec{Name: q.Action}, requestedBy: q.RequestedBy}, q.Host,
			actionOutcome{status: ActionExpired, message: "Expired in the offline queue", attempts: q.Attempts}, true)
	}
	return nil
}

// replayDevice runs a device's Pending entries in enqueue order. It stops
// at the first entry the device cannot be reached for (the rest wait, in
// order, for the next time).
func (e *Engine) replayDevice(ctx context.Context, deviceID int64) {
	if err := e.expireQueue(ctx); err != nil {
		e.log.Warn("expire offline queue", "err", err)
	}
	entries, err := e.db.PendingForDevice(ctx, deviceID)
	if err != nil {
		e.log.Warn("read offline queue", "device_id", deviceID, "err", err)
		return
	}
	for _, q := range entries {
		if ctx.Err() != nil {
			return // the engine closed: the rest waits for the next one
		}
		if !q.ExpiresAt.IsZero() && !time.Now().Before(q.ExpiresAt) {
			continue // expired between the check and now: the next check marks it
		}
		owner, err := e.processID(ctx)
		if err != nil {
			e.log.Warn("claim queued action", "queue_id", q.ID, "err", err)
			return
		}
		ok, err := e.db.ClaimQueued(ctx, q.ID, owner)
		if err != nil {
			e.log.Warn("claim queued action", "queue_id", q.ID, "err", err)
			return
		}
		if !ok {
			continue // cancelled, or another process took it
		}
		if !e.replayEntry(ctx, q) {
			return
		}
	}
}

// replayEntry runs one claimed entry; false when the device could not be
// reached (the entry is Pending again).
func (e *Engine) replayEntry(ctx context.Context, q store.QueueEntry) bool {
	wctx := context.WithoutCancel(ctx)
	d, ok := e.device(q.DeviceID)
	if !ok {
		_ = e.db.FinishQueued(wctx, q.ID, store.QueueFailed, "device removed")
		return true
	}
	spec, ok := LookupAction(q.Action)
	plan := &runPlan{id: q.RunID, spec: spec, params: q.Params, requestedBy: q.RequestedBy, timeout: e.options().Timeout, queueable: true}
	var perr error
	if !ok {
		perr = fmt.Errorf("action %q is not in this rmm's catalog", q.Action)
	} else {
		if plan.params == nil {
			plan.params = map[string]string{}
		}
		perr = e.preparePlan(ctx, plan, e.actionOptions())
	}
	start := time.Now().UTC()
	id := SystemIdentity()
	if perr != nil {
		out := actionOutcome{status: ActionFailed, message: perr.Error(), attempts: 1}
		_ = e.db.FinishQueued(wctx, q.ID, store.QueueFailed, perr.Error())
		if q.ActionID != 0 {
			e.finishRow(ctx, id, plan, q.ActionID, d.Hostname, out, start, true)
		}
		return true
	}
	if q.ActionID != 0 {
		if err := e.db.StartAction(wctx, q.ActionID, start); err != nil {
			e.log.Warn("start replayed action", "queue_id", q.ID, "err", err)
		}
	}
	e.log.Info("replaying queued action", "device", d.Hostname, "action", q.Action, "queue_id", q.ID, "run", q.RunID)
	out := e.attemptWithRetries(ctx, plan, d)
	if q.ActionID != 0 {
		if row, err := e.db.GetActionRow(wctx, q.ActionID); err == nil {
			out.attempts += row.Attempts // the row counts every attempt: the run's and the replays'
		}
	}
	switch {
	case out.status == ActionQueued:
		// Unreachable again: back to Pending, the action row to Queued.
		if err := e.db.ReleaseQueued(wctx, q.ID, errText(out.err)); err != nil {
			e.log.Warn("release queued action", "queue_id", q.ID, "err", err)
		}
		if q.ActionID != 0 {
			_ = e.db.FinishAction(wctx, store.ActionRow{ID: q.ActionID, Status: ActionQueued, Message: out.message,
				Attempts: out.attempts, ScriptVersion: plan.scriptVersion})
		}
		return false
	case out.status == ActionCancelled:
		// The engine closed under the replay: it runs again next time.
		_ = e.db.ReleaseQueued(wctx, q.ID, "interrupted: rmm closed during the replay")
		if q.ActionID != 0 {
			_ = e.db.FinishAction(wctx, store.ActionRow{ID: q.ActionID, Status: ActionQueued, Message: "Queued: replay interrupted",
				Attempts: out.attempts, ScriptVersion: plan.scriptVersion})
		}
		return false
	}
	state, lastErr := store.QueueDone, ""
	if out.status != ActionCompleted {
		state, lastErr = store.QueueFailed, oneLine(out.message)
	}
	if err := e.db.FinishQueued(wctx, q.ID, state, lastErr); err != nil {
		e.log.Error("finish queued action", "queue_id", q.ID, "err", err)
	}
	if q.ActionID != 0 {
		e.finishRow(ctx, id, plan, q.ActionID, d.Hostname, out, start, true)
	} else {
		e.auditResult(ctx, id, plan, d.Hostname, out, true)
	}
	return true
}

// listQueue lists queue entries, oldest first.
func (e *Engine) listQueue(ctx context.Context, state string) ([]QueueEntry, error) {
	switch state {
	case "", QueuePending, QueueReplaying, QueueDone, QueueFailed, QueueExpired, QueueCancelled:
	default:
		return nil, fmt.Errorf("queue state %q is not one of Pending, Replaying, Done, Failed, Expired, Cancelled", state)
	}
	rows, err := e.db.ListQueue(ctx, state)
	if err != nil {
		return nil, err
	}
	out := make([]QueueEntry, len(rows))
	for i, q := range rows {
		out[i] = QueueEntry{ID: q.ID, DeviceID: q.DeviceID, Host: q.Host, Action: q.Action, Params: q.Params,
			RequestedBy: q.RequestedBy, EnqueuedAt: q.EnqueuedAt, ExpiresAt: q.ExpiresAt, State: q.State,
			Attempts: q.Attempts, LastError: q.LastError, RunID: q.RunID}
	}
	return out, nil
}

// ErrNotPending is wrapped when a queue entry to cancel is not Pending.
var ErrNotPending = store.ErrQueueState

// cancelQueued cancels one Pending entry.
func (e *Engine) cancelQueued(ctx context.Context, id Identity, qid int64) error {
	q, err := e.db.CancelQueued(context.WithoutCancel(ctx), qid, id.User, time.Now().UTC())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("queue entry %d: not found (rmm queue lists them)", qid)
		}
		return err
	}
	e.log.Info("queued action cancelled", "queue_id", q.ID, "device", q.Host, "action", q.Action, "user", id.User)
	return nil
}
