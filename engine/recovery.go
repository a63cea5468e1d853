package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// Crash recovery. An rmm process killed with kill -9 (or a power cut)
// leaves work half done in the database and WinRM shells open on its
// hosts. Every process that takes work registers in the processes table
// (store.Process); the runs it fans out, the queue entries it replays and
// the shells it opens carry its id. When an engine starts, it looks at
// the registered processes, decides which are gone (processAlive), and:
//
//   - puts their queue entries left Replaying back to Pending (replayed
//     again when the device is seen), or Failed after MaxReplayAttempts;
//   - closes their unfinished runs: rows that had not started Cancelled,
//     rows that were running Failed (the action may or may not have taken
//     effect), the run finished; each with an audit row;
//   - deletes the shells they left on the hosts, from the shell records,
//     in the background (a host that cannot be reached keeps its records
//     for the next start).
//
// A shell opened just before the crash, too late to be recorded, is
// found by WS-Man enumeration when its host's quota is hit
// (orphanShells).

// MaxReplayAttempts is how many times a queue entry may be claimed for a
// replay; one whose replays were interrupted that often (a crash each
// time) is not replayed again.
const MaxReplayAttempts = 3

// orphanGrace is how long a shell nobody recorded must have been idle,
// and alive, before the quota sweep takes it for a crashed rmm's: longer
// than the moment between a Create and its record.
const orphanGrace = 2 * time.Minute

// staleShellRecord is the age past which a shell record is dropped
// without trying to delete the shell: Windows deletes an idle shell after
// its IdleTimeout (2 hours by default), so a day-old shell is gone.
const staleShellRecord = 24 * time.Hour

// processReg is this engine's registration in the processes table,
// written when it first owns work.
type processReg struct {
	mu   sync.Mutex
	id   int64
	host string
	pid  int
	tok  string
}

// processID registers this process (once) and returns its id.
func (e *Engine) processID(ctx context.Context) (int64, error) {
	r := &e.proc
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.id != 0 {
		return r.id, nil
	}
	cmd := filepath.Base(os.Args[0])
	if len(os.Args) > 1 {
		cmd += " " + os.Args[1]
	}
	id, err := e.db.RegisterProcess(context.WithoutCancel(ctx), store.Process{Host: r.host, PID: r.pid, StartToken: r.tok,
		Command: cmd, StartedAt: time.Now().UTC()})
	if err != nil {
		return 0, err
	}
	r.id = id
	return id, nil
}

// registered returns this process's id, 0 when it never registered.
func (e *Engine) registered() int64 {
	e.proc.mu.Lock()
	defer e.proc.mu.Unlock()
	return e.proc.id
}

// initProcess notes who this process is, before anything asks.
func (e *Engine) initProcess() {
	host, _ := os.Hostname()
	e.proc.host, e.proc.pid = host, os.Getpid()
	e.proc.tok = startToken(e.proc.pid)
}

// processAlive decides whether a registered process still runs. SQLite in
// WAL mode cannot be shared between machines, so a row of another host
// name comes from a copied database or a renamed host: gone. On this host
// the pid must exist and, where the OS tells start times, be the same
// process (not a reused pid). Containers that share a database volume
// must share the host name and the pid namespace for this to hold.
func (e *Engine) processAlive(p store.Process) bool {
	if p.ID == e.registered() {
		return true
	}
	if p.Host != e.proc.host || !pidAlive(p.PID) {
		return false
	}
	if p.StartToken != "" {
		if tok := startToken(p.PID); tok != "" && tok != p.StartToken {
			return false
		}
	}
	return true
}

// recoverOrphans closes or requeues the work of processes that are gone
// (store.RecoverOrphans), audits it, and starts deleting their shells.
func (e *Engine) recoverOrphans(ctx context.Context) {
	rec, err := e.db.RecoverOrphans(context.WithoutCancel(ctx), e.processAlive, MaxReplayAttempts, time.Now().UTC(), e.recoveryAudit)
	if err != nil {
		e.log.Warn("the work of ended rmm processes was not recovered; the next start tries again", "err", err)
	} else {
		for _, p := range rec.Dead {
			e.log.Info("rmm process ended without closing", "process", p.ID, "pid", p.PID, "host", p.Host,
				"command", p.Command, "started", p.StartedAt)
		}
		for _, q := range rec.Requeued {
			e.log.Warn("queued action interrupted by an ended rmm; replayed again", "queue_id", q.ID, "device", q.Host, "action", q.Action)
		}
		for _, q := range rec.Failed {
			e.log.Warn("queued action interrupted too often; not replayed again", "queue_id", q.ID, "device", q.Host,
				"action", q.Action, "attempts", q.Attempts)
		}
		for _, r := range rec.Runs {
			e.log.Warn("action run interrupted by an ended rmm; closed", "run", r.Run.ID, "action", r.Run.Action,
				"cancelled", len(r.Cancelled), "failed", len(r.Failed))
		}
	}
	// In the replay group: closing the engine lets it finish (replayGrace),
	// so even a one-shot command cleans up what the last crash left.
	e.act.spawn(true, e.deleteLeftoverShells)
}

// recoveryAudit is the audit rows of what recovery did, written with it.
func (e *Engine) recoveryAudit(rec store.Recovered) []store.AuditEntry {
	id := SystemIdentity()
	row := func(action string, targets []string, details map[string]any) store.AuditEntry {
		return store.AuditEntry{User: id.User, Role: id.Role.String(), Via: string(id.Via), Action: action,
			Targets: auditTargets(targets), Result: store.AuditSuccess, Details: details}
	}
	owner := func(pid int64) string {
		if p, ok := rec.Owners[pid]; ok {
			return p.String()
		}
		if pid == 0 {
			return "an rmm from before owners were recorded"
		}
		return fmt.Sprintf("rmm process %d", pid)
	}
	var out []store.AuditEntry
	for _, r := range rec.Runs {
		out = append(out, row("action.recovered", append(append([]string{}, r.Failed...), r.Cancelled...), map[string]any{
			"run": r.Run.ID, "action": r.Run.Action, "requested_by": r.Run.RequestedBy, "process": owner(r.Owner),
			"failed_running": len(r.Failed), "cancelled_pending": len(r.Cancelled),
			"reason": "the rmm process running the fan-out ended (crash or kill) before it finished",
		}))
	}
	for _, q := range rec.Requeued {
		out = append(out, row("queue.recovered", []string{q.Host}, map[string]any{"queue_id": q.ID, "action": q.Action,
			"run": q.RunID, "state": q.State, "attempts": q.Attempts, "reason": q.LastError}))
	}
	for _, q := range rec.Failed {
		out = append(out, row("queue.recovered", []string{q.Host}, map[string]any{"queue_id": q.ID, "action": q.Action,
			"run": q.RunID, "state": q.State, "attempts": q.Attempts, "reason": q.LastError}))
	}
	return out
}

// auditTargets caps a target list for an audit row, as the action rows
// do: the first hundred and a count of the rest.
func auditTargets(hosts []string) []string {
	const limit = 100
	if len(hosts) <= limit {
		return hosts
	}
	out := append([]string{}, hosts[:limit]...)
	return append(out, fmt.Sprintf("... and %d more", len(hosts)-limit))
}

// deleteLeftoverShells deletes on their hosts the shells recorded by
// processes that are gone, a bounded number at a time. A record with no
// shell id (the process asked for a shell and never learnt its id) has
// the host's shells listed: the cmd shells of the credential's account
// made since the record, that no live process recorded, are deleted. A
// shell deleted, already gone, of a removed device, or recorded more than
// a day ago loses its record; one whose host did not answer keeps it for
// the next start.
func (e *Engine) deleteLeftoverShells(ctx context.Context) {
	recs, err := e.db.Shells(ctx)
	if err != nil || len(recs) == 0 {
		if err != nil {
			e.log.Warn("read the shell records", "err", err)
		}
		return
	}
	// Processes are read after the records: a process owning a record
	// registered before it wrote it, so it is in this list.
	procs, err := e.db.Processes(ctx)
	if err != nil {
		e.log.Warn("read the processes", "err", err)
		return
	}
	alive := map[int64]bool{}
	for _, p := range procs {
		if e.processAlive(p) {
			alive[p.ID] = true
		}
	}
	held := map[string]bool{} // shell ids live processes hold
	byDevice := map[int64][]store.ShellRecord{}
	for _, r := range recs {
		switch {
		case alive[r.ProcessID]:
			if r.ShellID != "" {
				held[r.ShellID] = true
			}
		default:
			byDevice[r.DeviceID] = append(byDevice[r.DeviceID], r)
		}
	}
	if len(byDevice) == 0 {
		return
	}
	o := e.options()
	var mu sync.Mutex
	var gone []store.ShellRecord
	kept, deleted := 0, 0
	wp := pool.New().WithMaxGoroutines(max(1, o.Throttle))
	for devID, left := range byDevice {
		wp.Go(func() {
			done, n := e.deleteDeviceLeftovers(ctx, o, devID, left, held)
			mu.Lock()
			gone = append(gone, done...)
			kept += len(left) - len(done)
			deleted += n
			mu.Unlock()
		})
	}
	wp.Wait()
	if err := e.db.ForgetShells(context.WithoutCancel(ctx), gone); err != nil {
		e.log.Warn("forget deleted shells", "err", err)
	}
	e.log.Info("shells left by ended rmm processes", "deleted", deleted, "records_closed", len(gone),
		"kept_for_next_start", kept)
	e.leftoverDeleted.Add(int64(deleted))
}

// deleteDeviceLeftovers deletes one device's leftover shells and returns
// the records that can go and how many shells it deleted.
func (e *Engine) deleteDeviceLeftovers(ctx context.Context, o Options, devID int64, left []store.ShellRecord,
	held map[string]bool) ([]store.ShellRecord, int) {
	d, ok := e.device(devID)
	if !ok || ctx.Err() != nil {
		if !ok {
			return left, 0 // the device was removed: nothing to reach it with
		}
		return nil, 0
	}
	var done []store.ShellRecord
	var pending []store.ShellRecord
	for _, r := range left {
		if time.Since(r.OpenedAt) > staleShellRecord {
			done = append(done, r) // WinRM's idle timeout took it long ago
		} else {
			pending = append(pending, r)
		}
	}
	if len(pending) == 0 {
		return done, 0
	}
	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cred, err := e.credentialFor(dctx, o, d)
	if err != nil {
		e.log.Debug("leftover shells not deleted; kept for the next start", "device", d.Hostname, "err", err)
		return done, 0
	}
	t := e.target(d)
	deleted := 0
	var listed []winrm.ShellInfo
	listedOK := false
	goneIDs := map[string]bool{} // deleted here: held is shared with the other devices' workers, read only
	for _, r := range pending {
		if r.ShellID != "" {
			if err := e.winrm.DeleteShell(dctx, t, cred, r.ShellID); err != nil {
				e.log.Debug("leftover shell not deleted; kept for the next start", "device", d.Hostname, "shell", r.ShellID, "err", err)
				continue
			}
			deleted++
			done = append(done, r)
			continue
		}
		// Asked for, id never learnt: list the host's shells (once).
		if !listedOK {
			if listed, err = e.winrm.ListShells(dctx, t, cred); err != nil {
				e.log.Debug("shells not listed; kept for the next start", "device", d.Hostname, "err", err)
				continue
			}
			listedOK = true
		}
		since := time.Since(r.OpenedAt) + 2*time.Second // ShellRunTime counts whole seconds
		for _, s := range listed {
			if held[s.ID] || goneIDs[s.ID] || s.ResourceURI != winrm.CmdShellURI || !winrm.SameAccount(s.Owner, cred.User) ||
				s.RunTime > since {
				continue
			}
			if err := e.winrm.DeleteShell(dctx, t, cred, s.ID); err == nil {
				goneIDs[s.ID] = true
				deleted++
			}
		}
		done = append(done, r)
	}
	return done, deleted
}

// orphanShells is winrm.Options.OrphanShells: of the shells a host listed
// (already narrowed to this account's cmd shells from this client's
// address that the client does not hold), the ones no live rmm process
// holds. A recorded shell belongs to the process that recorded it. One
// nobody recorded is taken for an orphan once it has been idle for
// orphanGrace (after a quota fault), or when it was made since madeSince
// (a Create whose answer this client lost) and no live process is asking
// that host for a shell since then.
func (e *Engine) orphanShells(ctx context.Context, at winrm.ShellRef, shells []winrm.ShellInfo, madeSince time.Time) []string {
	recs, err := e.db.Shells(ctx)
	if err != nil {
		e.log.Warn("read the shell records", "device", at.Host, "err", err)
		return nil
	}
	procs, err := e.db.Processes(ctx)
	if err != nil {
		e.log.Warn("read the processes", "device", at.Host, "err", err)
		return nil
	}
	alive := map[int64]bool{}
	for _, p := range procs {
		if e.processAlive(p) {
			alive[p.ID] = true
		}
	}
	owner := make(map[string]int64, len(recs))
	asking := false // a live process (another one: this client holds no such record now) awaits a shell id here
	me := e.registered()
	for _, r := range recs {
		switch {
		case r.ShellID != "":
			owner[r.ShellID] = r.ProcessID
		case r.Endpoint != at.Endpoint:
		case r.ProcessID == me && !madeSince.IsZero():
			// This process's record of the lost Create: the host is
			// being looked at now, the record has done its job.
			e.shellRecs.later(store.ShellChange{ID: r.ID})
		case alive[r.ProcessID] && r.ProcessID != me && r.OpenedAt.After(madeSince):
			asking = true
		}
	}
	var out []string
	for _, s := range shells {
		if pid, ok := owner[s.ID]; ok {
			if !alive[pid] {
				out = append(out, s.ID)
			}
			continue
		}
		switch {
		case madeSince.IsZero():
			if s.Inactivity >= orphanGrace && s.RunTime >= orphanGrace {
				out = append(out, s.ID)
			}
		case !asking:
			out = append(out, s.ID) // made since the lost Create (the client checked), held by nobody
		}
	}
	return out
}

// shellRecorder writes the shell records of this process. A record is
// written before the host is asked for a shell and completed with the
// shell's id before the shell is used, and the client waits for both: a
// crash at any moment leaves a record. Many shells are made at once (a
// fleet's first sweep), so the writes are committed in groups, whatever
// is waiting, one transaction per group.
type shellRecorder struct {
	e        *Engine
	ops      chan shellOp
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	mu    sync.Mutex
	lost  map[string]bool // endpoints with a record kept for a Create whose answer was lost
	warns int             // record failures logged
}

// shellOp is one write; ack, when set, hears when it is committed.
type shellOp struct {
	change store.ShellChange
	ack    chan error
}

func newShellRecorder(e *Engine) *shellRecorder {
	r := &shellRecorder{e: e, ops: make(chan shellOp, 1024), stop: make(chan struct{}), done: make(chan struct{}),
		lost: map[string]bool{}}
	go r.loop()
	return r
}

// wait writes a change and waits until it is committed, or ctx ends.
func (r *shellRecorder) wait(ctx context.Context, c store.ShellChange) error {
	op := shellOp{change: c, ack: make(chan error, 1)}
	select {
	case r.ops <- op:
	case <-r.stop:
		return errRecorderStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-op.ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// later queues a change without waiting for it.
func (r *shellRecorder) later(c store.ShellChange) {
	select {
	case r.ops <- shellOp{change: c}:
	case <-r.stop:
	}
}

// warn logs a record failure (the first few: a database that refuses
// writes says so elsewhere too).
func (r *shellRecorder) warn(host string, err error) {
	r.mu.Lock()
	r.warns++
	n := r.warns
	r.mu.Unlock()
	if n <= 10 {
		r.e.log.Warn("shell not recorded: a crash now would leave it open on the host until its idle timeout",
			"device", host, "err", err)
	}
}

// creating is winrm.Options.OnShellCreate.
func (r *shellRecorder) creating(ctx context.Context, s winrm.ShellRef) func(string, bool) {
	pid, err := r.e.processID(ctx)
	if err != nil {
		r.warn(s.Host, err)
		return nil
	}
	rec := &store.ShellRecord{ProcessID: pid, DeviceID: s.Ref, Endpoint: s.Endpoint, OpenedAt: time.Now().UTC()}
	if err := r.wait(ctx, store.ShellChange{Add: rec}); err != nil || rec.ID == 0 {
		r.warn(s.Host, err)
		return nil
	}
	return func(shellID string, lost bool) {
		switch {
		case shellID != "":
			// The shell is not used before its id is recorded; the
			// request's context may be nearly over, the record is not.
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := r.wait(wctx, store.ShellChange{ID: rec.ID, ShellID: shellID}); err != nil {
				r.warn(s.Host, err) // the record without an id stays: the next start lists the host's shells
			}
		case lost:
			// The host may have made a shell we will never know of: the
			// record stays, for the next start to list the host's shells
			// made since. One per endpoint is enough (the oldest).
			r.mu.Lock()
			keep := !r.lost[s.Endpoint]
			r.lost[s.Endpoint] = true
			r.mu.Unlock()
			if !keep {
				r.later(store.ShellChange{ID: rec.ID})
			}
		default:
			r.later(store.ShellChange{ID: rec.ID}) // the host made none
		}
	}
}

// closed is winrm.Options.OnShellClosed.
func (r *shellRecorder) closed(s winrm.ShellRef) {
	r.later(store.ShellChange{Forget: &store.ShellRecord{Endpoint: s.Endpoint, ShellID: s.ShellID}})
}

var errRecorderStopped = fmt.Errorf("the engine is closing")

func (r *shellRecorder) loop() {
	defer close(r.done)
	for {
		var batch []shellOp
		select {
		case op := <-r.ops:
			batch = append(batch, op)
		case <-r.stop:
			// Close has stopped the client: what is queued is all there is.
			for drained := false; !drained; {
				select {
				case op := <-r.ops:
					batch = append(batch, op)
				default:
					drained = true
				}
			}
			r.write(batch)
			return
		}
	gather:
		for len(batch) < 512 {
			select {
			case op := <-r.ops:
				batch = append(batch, op)
			default:
				break gather
			}
		}
		r.write(batch)
	}
}

// write commits a group, in the order it was queued, and tells those who
// wait.
func (r *shellRecorder) write(batch []shellOp) {
	if len(batch) == 0 {
		return
	}
	changes := make([]store.ShellChange, len(batch))
	for i, op := range batch {
		changes[i] = op.change
	}
	err := r.e.db.WriteShells(context.Background(), changes)
	for _, op := range batch {
		if op.ack != nil {
			op.ack <- err
		}
	}
	if err != nil {
		r.e.log.Warn("shell records not written", "changes", len(changes), "err", err)
	}
}

// close stops the recorder after writing what is queued. Call it once the
// client is closed.
func (r *shellRecorder) close() {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
}
