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
// processes that are gone, a bounded number at a time. A shell deleted,
// already gone, of a removed device, or recorded more than a day ago
// loses its record; one whose host did not answer keeps it for the next
// start.
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
	var left []store.ShellRecord
	for _, r := range recs {
		if !alive[r.ProcessID] {
			left = append(left, r)
		}
	}
	if len(left) == 0 {
		return
	}
	o := e.options()
	var mu sync.Mutex
	var gone []store.ShellRecord
	kept := 0
	wp := pool.New().WithMaxGoroutines(max(1, o.Throttle))
	for _, r := range left {
		wp.Go(func() {
			d, ok := e.device(r.DeviceID)
			done := !ok || time.Since(r.OpenedAt) > staleShellRecord
			if !done && ctx.Err() == nil {
				dctx, cancel := context.WithTimeout(ctx, o.Timeout)
				cred, err := e.credentialFor(dctx, o, d)
				if err == nil {
					err = e.winrm.DeleteShell(dctx, e.target(d), cred, r.ShellID)
				}
				cancel()
				done = err == nil
				if err != nil {
					e.log.Debug("leftover shell not deleted; kept for the next start", "device", d.Hostname, "shell", r.ShellID, "err", err)
				}
			}
			mu.Lock()
			if done {
				gone = append(gone, r)
			} else {
				kept++
			}
			mu.Unlock()
		})
	}
	wp.Wait()
	if err := e.db.ForgetShells(context.WithoutCancel(ctx), gone); err != nil {
		e.log.Warn("forget deleted shells", "err", err)
	}
	e.log.Info("shells left by ended rmm processes", "deleted_or_gone", len(gone), "kept_for_next_start", kept)
	e.leftoverDeleted.Add(int64(len(gone)))
}

// orphanShells is winrm.Options.OrphanShells: of the shells a host listed
// after a quota fault (already narrowed to this account's cmd shells from
// this client's address that the pool does not hold), the ones no live
// rmm process holds. A recorded shell belongs to the process that
// recorded it; a shell nobody recorded is taken for an orphan once it has
// been idle for orphanGrace.
func (e *Engine) orphanShells(ctx context.Context, host string, shells []winrm.ShellInfo) []string {
	recs, err := e.db.Shells(ctx)
	if err != nil {
		e.log.Warn("read the shell records", "device", host, "err", err)
		return nil
	}
	procs, err := e.db.Processes(ctx)
	if err != nil {
		e.log.Warn("read the processes", "device", host, "err", err)
		return nil
	}
	alive := map[int64]bool{}
	for _, p := range procs {
		if e.processAlive(p) {
			alive[p.ID] = true
		}
	}
	owner := make(map[string]int64, len(recs))
	for _, r := range recs {
		owner[r.ShellID] = r.ProcessID
	}
	var out []string
	for _, s := range shells {
		if pid, ok := owner[s.ID]; ok {
			if !alive[pid] {
				out = append(out, s.ID)
			}
			continue
		}
		if s.Inactivity >= orphanGrace && s.RunTime >= orphanGrace {
			out = append(out, s.ID)
		}
	}
	return out
}

// shellRecorder writes the shell records of this process: the pool waits
// for a shell's record before it uses the shell (a crash after that
// leaves the record), so records are committed in groups, whatever is
// waiting, one transaction per group.
type shellRecorder struct {
	e        *Engine
	ops      chan shellOp
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

type shellOp struct {
	rec  store.ShellRecord
	open bool
	ack  chan error // opens only
}

func newShellRecorder(e *Engine) *shellRecorder {
	r := &shellRecorder{e: e, ops: make(chan shellOp, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r
}

// opened is winrm.Options.OnShellOpen.
func (r *shellRecorder) opened(ctx context.Context, s winrm.ShellRef) error {
	pid, err := r.e.processID(ctx)
	if err != nil {
		return err
	}
	op := shellOp{rec: store.ShellRecord{ProcessID: pid, DeviceID: s.Ref, Endpoint: s.Endpoint, ShellID: s.ShellID,
		OpenedAt: time.Now().UTC()}, open: true, ack: make(chan error, 1)}
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

// closed is winrm.Options.OnShellClosed.
func (r *shellRecorder) closed(s winrm.ShellRef) {
	select {
	case r.ops <- shellOp{rec: store.ShellRecord{Endpoint: s.Endpoint, ShellID: s.ShellID}}:
	case <-r.stop:
	}
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
			// Close has stopped the pool: what is queued is all there is.
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

// write commits a group: the opens, then the closes (a shell opened and
// closed within the group ends with no record).
func (r *shellRecorder) write(batch []shellOp) {
	if len(batch) == 0 {
		return
	}
	ctx := context.Background()
	var opens, closes []store.ShellRecord
	for _, op := range batch {
		if op.open {
			opens = append(opens, op.rec)
		} else {
			closes = append(closes, op.rec)
		}
	}
	err := r.e.db.RecordShells(ctx, opens)
	for _, op := range batch {
		if op.open {
			op.ack <- err
		}
	}
	if err := r.e.db.ForgetShells(ctx, closes); err != nil {
		r.e.log.Warn("shell records not removed; the next start deletes those shells again", "err", err)
	}
}

// close stops the recorder after writing what is queued. Call it once the
// pool is closed.
func (r *shellRecorder) close() {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
}
