package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// ActionOptions configure remote actions; zero values take the defaults.
type ActionOptions struct {
	QueueExpiry    time.Duration // actions.queue_expiry: how long an offline device's action waits (default 168h)
	OutputMaxBytes int           // actions.output_max_bytes: stdout and stderr kept per device (default 65536)
	WakeAddress    string        // actions.wol_address: where Wake-on-LAN packets go (default 255.255.255.255:9)
	Retries        int           // actions.retries: retries of a transient failure (0: Options.Retries; -1: none)
	ScriptTimeout  time.Duration // library scripts without their own timeout (default 5m)
	QueueCheck     time.Duration // how often queued entries are expired and replayed for online devices (default 30s)
}

// Defaults of ActionOptions.
const (
	DefaultQueueExpiry    = 7 * 24 * time.Hour
	DefaultOutputMaxBytes = 64 << 10
	DefaultWakeAddress    = "255.255.255.255:9"
	DefaultScriptTimeout  = 5 * time.Minute
	DefaultQueueCheck     = 30 * time.Second
)

func (o ActionOptions) withDefaults(engineRetries int) ActionOptions {
	if o.QueueExpiry <= 0 {
		o.QueueExpiry = DefaultQueueExpiry
	}
	if o.OutputMaxBytes <= 0 {
		o.OutputMaxBytes = DefaultOutputMaxBytes
	}
	if o.WakeAddress == "" {
		o.WakeAddress = DefaultWakeAddress
	}
	switch {
	case o.Retries == 0:
		o.Retries = engineRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.ScriptTimeout <= 0 {
		o.ScriptTimeout = DefaultScriptTimeout
	}
	if o.QueueCheck <= 0 {
		o.QueueCheck = DefaultQueueCheck
	}
	return o
}

// ConfirmError is StartRun's refusal of an unconfirmed destructive
// action; errors.Is(err, ErrConfirmRequired) holds. Devices is how many
// the run would touch, for the question a front end asks.
type ConfirmError struct {
	Action  string // catalog name
	Title   string // "Restart"
	Devices int
}

func (e *ConfirmError) Error() string {
	if e.Action == ActCommand {
		return fmt.Sprintf("a command on %d devices (more than %d) must be confirmed: %s", e.Devices, ConfirmOver, ErrConfirmRequired)
	}
	return fmt.Sprintf("%s on %d device(s) is destructive: %s", e.Action, e.Devices, ErrConfirmRequired)
}

// Is makes errors.Is(err, ErrConfirmRequired) true.
func (e *ConfirmError) Is(target error) bool { return target == ErrConfirmRequired }

// errRunCancelled is the cause of a run's context when CancelRun stops it.
var errRunCancelled = errors.New("run cancelled")

// actionBook owns the runs in flight, the offline queue replays and the
// queue janitor of one engine. close stops them all.
type actionBook struct {
	e       *Engine
	ctx     context.Context // runs and the janitor; ended by close
	cancel  context.CancelFunc
	wg      sync.WaitGroup  // runs, the janitor
	rctx    context.Context // replays: ended only when close has waited replayGrace
	rcancel context.CancelFunc
	rwg     sync.WaitGroup // replays

	mu         sync.Mutex
	live       map[string]*liveRun
	replaying  map[int64]bool // devices whose queue this engine replays now
	again      map[int64]bool // devices that came back while their replay ran
	online     map[int64]bool // devices this engine has seen Online (and not since lost)
	cameOnline map[int64]bool // devices seen coming online, for the janitor
	kick       chan struct{}  // wakes the janitor for cameOnline
	closed     bool
}

// replayGrace is how long closing the engine lets a queued action that is
// being replayed finish: cut short, it could have run without being marked
// Done, and would run again later.
const replayGrace = 30 * time.Second

type liveRun struct {
	cancel context.CancelCauseFunc
	by     string // who cancelled, once cancelled
	done   chan struct{}
}

func newActionBook(e *Engine) *actionBook {
	ctx, cancel := context.WithCancel(context.Background())
	rctx, rcancel := context.WithCancel(context.Background())
	b := &actionBook{e: e, ctx: ctx, cancel: cancel, rctx: rctx, rcancel: rcancel, live: map[string]*liveRun{},
		replaying: map[int64]bool{}, again: map[int64]bool{}, online: map[int64]bool{}, cameOnline: map[int64]bool{},
		kick: make(chan struct{}, 1)}
	b.wg.Add(1)
	go b.janitor()
	return b
}

// close cancels the runs in flight and stops the janitor. Replays go on
// for up to replayGrace and are cancelled after that; the devices seen
// coming online that the janitor has not looked at yet get theirs started
// first (a one-shot sweep, rmm poll --once, closes right after its devices
// came online).
func (b *actionBook) close() {
	b.mu.Lock()
	back := b.cameOnline
	b.cameOnline = map[int64]bool{}
	b.mu.Unlock()
	if len(back) > 0 {
		b.e.replayQueued(b.rctx, back)
	}
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	done := make(chan struct{})
	go func() {
		b.rwg.Wait()
		close(done)
	}()
	t := time.NewTimer(replayGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		b.rcancel()
		<-done
	}
	b.rcancel()
}

// spawn runs fn in a goroutine owned by the book (a replay when replay
// is set); false once closed.
func (b *actionBook) spawn(replay bool, fn func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	wg, ctx := &b.wg, b.ctx
	if replay {
		wg, ctx = &b.rwg, b.rctx
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		fn(ctx)
	}()
	return true
}

func (e *Engine) actionOptions() ActionOptions {
	o := e.options()
	return o.Actions.withDefaults(o.Retries)
}

// runPlan is what every device of a run gets.
type runPlan struct {
	id            string
	spec          ActionSpec
	params        map[string]string // as recorded (defaults filled, run-script version resolved)
	sc            *winrm.Script     // the script, for plain script actions and run-script
	scriptVersion int               // the library version (run-script), else the embedded script's
	timeout       time.Duration
	file          []byte // file-push content
	fileSum       string // its sha256, hex
	requestedBy   string
	expiry        time.Duration
	queueable     bool
	command       bool         // an ad-hoc command (command.go): its text on the run's row only, results with output keys
	rec           *runRecorder // the fan-out's batched writes; nil for a replay (actions_record.go)
}

// newRunID returns an id people can type: date, time and 6 hex digits.
func newRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// startRun validates, records and starts a run (StartRun.exec).
func (e *Engine) startRun(ctx context.Context, id Identity, r StartRun) (RunInfo, error) {
	if err := e.Fatal(); err != nil {
		return RunInfo{}, err
	}
	spec, ok := LookupAction(r.Name)
	if !ok {
		return RunInfo{}, fmt.Errorf("action %q is not in the catalog (want one of %s)", r.Name, actionNames())
	}
	if err := spec.Validate(r.Params); err != nil {
		return RunInfo{}, fmt.Errorf("%s: %w", spec.Name, err)
	}
	devs, err := e.resolveTarget(ctx, r.Target)
	if err != nil {
		return RunInfo{}, fmt.Errorf("%s: %w", spec.Name, err)
	}
	if spec.single && len(devs) != 1 {
		return RunInfo{}, fmt.Errorf("%s runs on one device at a time; the target picks %d", spec.Name, len(devs))
	}
	ao := e.actionOptions()
	plan := &runPlan{spec: spec, params: spec.WithDefaults(r.Params), requestedBy: id.User, expiry: r.Expiry,
		timeout: e.options().Timeout, queueable: spec.script != "" && spec.Name != ActFilePull && spec.Name != ActFilePush}
	if plan.expiry <= 0 {
		plan.expiry = ao.QueueExpiry
	}
	if err := e.preparePlan(ctx, plan, ao); err != nil {
		return RunInfo{}, err
	}
	if spec.NeedsConfirm(plan.params) && !r.Confirmed {
		return RunInfo{}, &ConfirmError{Action: spec.Name, Title: spec.Title, Devices: len(devs)}
	}
	return e.launchRun(ctx, id, plan, devs, r.Target)
}

// launchRun records a run and its pending rows and starts its fan-out.
func (e *Engine) launchRun(ctx context.Context, id Identity, plan *runPlan, devs []DeviceState, target RunTarget) (RunInfo, error) {
	spec := plan.spec
	now := time.Now().UTC()
	plan.id = newRunID(now)
	ids := make([]int64, len(devs))
	for i, d := range devs {
		ids[i] = d.ID
	}
	owner, err := e.processID(ctx) // a crash of this process closes the run at the next start (recovery.go)
	if err != nil {
		return RunInfo{}, err
	}
	rowIDs, err := e.db.CreateRun(context.WithoutCancel(ctx), store.Run{ID: plan.id, Action: spec.Name, Params: recordedParams(plan),
		Target: target.String(), RequestedBy: id.User, StartedAt: now, Owner: owner, ParamsOnRun: plan.command}, ids)
	if err != nil {
		return RunInfo{}, err
	}
	runCtx, cancel := context.WithCancelCause(e.act.ctx)
	lr := &liveRun{cancel: cancel, done: make(chan struct{})}
	e.act.mu.Lock()
	e.act.live[plan.id] = lr
	e.act.mu.Unlock()
	started := e.act.spawn(false, func(context.Context) {
		defer close(lr.done)
		defer cancel(nil)
		e.fanOut(runCtx, id, plan, devs, rowIDs)
		e.act.mu.Lock()
		delete(e.act.live, plan.id)
		e.act.mu.Unlock()
	})
	if !started {
		cancel(nil)
		e.act.mu.Lock()
		delete(e.act.live, plan.id)
		e.act.mu.Unlock()
		_, _ = e.db.CancelPendingActions(context.WithoutCancel(ctx), plan.id, "Cancelled: the engine is closing", now)
		_ = e.db.FinishRun(context.WithoutCancel(ctx), plan.id, now)
		return RunInfo{}, fmt.Errorf("%s: the engine is closing", spec.Name)
	}
	e.log.Info("action run started", "run", plan.id, "action", spec.Name, "devices", len(devs), "user", id.User)
	return RunInfo{ID: plan.id, Action: spec.Name, Total: len(devs), StartedAt: now}, nil
}

// recordedParams are the params stored with the run and its rows: never
// a file's content.
func recordedParams(p *runPlan) map[string]string { return p.params }

// preparePlan builds the script (or reads the file) a run sends.
func (e *Engine) preparePlan(ctx context.Context, p *runPlan, ao ActionOptions) error {
	switch p.spec.Name {
	case ActWake:
		return nil
	case ActFilePush:
		b, err := os.ReadFile(p.params["source"])
		if err != nil {
			return fmt.Errorf("%s: param source: %w", p.spec.Name, err)
		}
		if len(b) > MaxFileCopy {
			return fmt.Errorf("%s: param source: %s is %d bytes; FileCopy sends at most %d bytes (10 MB)", p.spec.Name, p.params["source"], len(b), MaxFileCopy)
		}
		sum := sha256.Sum256(b)
		p.file, p.fileSum = b, hex.EncodeToString(sum[:])
		p.params["size"] = strconv.Itoa(len(b))
		p.params["sha256"] = p.fileSum
		s, err := scripts.Get(p.spec.script)
		if err != nil {
			return err
		}
		p.scriptVersion = s.Version
		return nil
	case ActFilePull:
		s, err := scripts.Get(p.spec.script)
		if err != nil {
			return err
		}
		p.scriptVersion = s.Version
		return nil
	case ActRunScript:
		return e.prepareLibraryRun(ctx, p, ao)
	}
	sc, v, err := actionScript(p.spec.script, scriptParams(p.spec, p.params))
	if err != nil {
		return err
	}
	p.sc, p.scriptVersion = sc, v
	if p.spec.Name == ActGPUpdate {
		p.timeout = max(p.timeout, 150*time.Second) // gpupdate /wait:120
	}
	return nil
}

// scriptParams are the params an action script receives: the catalog's
// parameters with their defaults.
func scriptParams(spec ActionSpec, params map[string]string) map[string]string {
	out := map[string]string{}
	for _, p := range spec.Params {
		if v, ok := params[p.Name]; ok {
			if b, err := strconv.ParseBool(v); err == nil && p.Type == "bool" {
				v = strconv.FormatBool(b) // the scripts compare with 'true'
			}
			out[p.Name] = v
		}
	}
	return out
}

// actionScript returns the embedded script name with the $RmmParams line
// after its marker line (the contract with the hosts and the simulator).
func actionScript(name string, params map[string]string) (*winrm.Script, int, error) {
	s, err := scripts.Get(name)
	if err != nil {
		return nil, 0, err
	}
	marker, rest, _ := strings.Cut(s.Body, "\n")
	return winrm.NewScript(s.Name, marker+"\n"+paramsLine(params)+"\n"+rest), s.Version, nil
}

// paramsLine is the $RmmParams line of an action script: a hashtable of
// single-quoted strings, each key and value through scripts.Quote. It
// calls no .NET method, so a host in Constrained Language mode
// (AppLocker, WDAC), where only the cold path runs, reads it too; keys
// are in order, so the same parameters make the same script.
func paramsLine(params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("$RmmParams = @{")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteByte(' ')
		b.WriteString(scripts.Quote(k))
		b.WriteString(" = ")
		b.WriteString(scripts.Quote(params[k]))
	}
	b.WriteString(" }")
	return b.String()
}

// fanOut runs the plan on every device through the engine's bounded pool
// and records each result.
func (e *Engine) fanOut(ctx context.Context, id Identity, p *runPlan, devs []DeviceState, rowIDs []int64) {
	o := e.options()
	p.rec = newRunRecorder(ctx, e, p.id)
	wp := pool.New().WithMaxGoroutines(o.Throttle)
	for i, d := range devs {
		if ctx.Err() != nil {
			break
		}
		rowID := rowIDs[i]
		wp.Go(func() {
			if ctx.Err() != nil {
				return // left Pending: cancelled below
			}
			dev, ok := e.device(d.ID)
			if !ok {
				e.finishRow(ctx, id, p, rowID, d.Hostname, actionOutcome{status: ActionFailed, message: "device removed"}, time.Now().UTC(), false)
				return
			}
			e.runDevice(ctx, id, p, dev, rowID)
		})
	}
	wp.Wait()
	p.rec.close() // every result recorded before the rest is cancelled and the run finished
	wctx := context.WithoutCancel(ctx)
	now := time.Now().UTC()
	msg := "Cancelled before it started"
	if by := e.act.cancelledBy(p.id); by != "" {
		msg = "Cancelled by " + by + " before it started"
	} else if context.Cause(ctx) != errRunCancelled && ctx.Err() != nil {
		msg = "Cancelled: the engine closed before it started"
	}
	if n, err := e.db.CancelPendingActions(wctx, p.id, msg, now); err != nil {
		e.log.Error("cancel pending actions", "run", p.id, "err", err)
	} else if n > 0 {
		e.log.Info("action run cancelled", "run", p.id, "not_started", n)
	}
	if err := e.db.FinishRun(wctx, p.id, now); err != nil {
		e.log.Error("finish run", "run", p.id, "err", err)
	}
	e.log.Info("action run finished", "run", p.id, "action", p.spec.Name)
}

func (b *actionBook) liveRun(id string) *liveRun {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.live[id]
}

// cancelledBy is who cancelled a live run, "" when nobody did.
func (b *actionBook) cancelledBy(id string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if lr := b.live[id]; lr != nil {
		return lr.by
	}
	return ""
}

// actionOutcome is one device's result of one action.
type actionOutcome struct {
	status   string
	message  string
	stdout   string
	stderr   string
	exit     *int
	attempts int
	err      error // the classed error behind a Failed or Queued outcome
}

// runDevice runs the plan on one device: Running, then its outcome, with
// retries; a device that cannot be reached gets the action queued.
func (e *Engine) runDevice(ctx context.Context, id Identity, p *runPlan, d store.Device, rowID int64) {
	start := time.Now().UTC()
	if p.rec != nil {
		p.rec.started(rowID)
	} else if err := e.db.StartAction(context.WithoutCancel(ctx), rowID, start); err != nil {
		e.log.Error("start action", "run", p.id, "device", d.Hostname, "err", err)
	}
	out := e.attemptWithRetries(ctx, p, d)
	if out.status == ActionQueued && p.queueable {
		now := time.Now().UTC()
		qid, err := e.db.EnqueueAction(context.WithoutCancel(ctx), store.QueueEntry{DeviceID: d.ID, Action: p.spec.Name,
			Params: recordedParams(p), RequestedBy: p.requestedBy, EnqueuedAt: now, ExpiresAt: now.Add(p.expiry),
			RunID: p.id, ActionID: rowID, Attempts: out.attempts, LastError: errText(out.err)}, out.message)
		if err != nil {
			e.log.Error("enqueue action", "run", p.id, "device", d.Hostname, "err", err)
			out.status, out.message = ActionFailed, "could not queue: "+err.Error()
		} else {
			e.log.Info("action queued for an offline device", "run", p.id, "device", d.Hostname, "queue_id", qid)
			e.auditResult(ctx, id, p, d.Hostname, out, false)
			return
		}
	} else if out.status == ActionQueued {
		out.status = ActionFailed
	}
	e.finishRow(ctx, id, p, rowID, d.Hostname, out, start, false)
}

// finishRow stores a device's final outcome and audits it.
func (e *Engine) finishRow(ctx context.Context, id Identity, p *runPlan, rowID int64, host string, out actionOutcome, start time.Time, replay bool) {
	now := time.Now().UTC()
	ao := e.actionOptions()
	row := store.ActionRow{ID: rowID, Status: out.status, Message: oneLine(out.message),
		Stdout: truncateOutput(out.stdout, ao.OutputMaxBytes), Stderr: truncateOutput(out.stderr, ao.OutputMaxBytes),
		ExitCode: out.exit, Duration: now.Sub(start), Attempts: out.attempts, ScriptVersion: p.scriptVersion,
		StartedAt: start, FinishedAt: now}
	if p.rec != nil && !replay {
		p.rec.finished(e.resultRecord(id, p, row, host, out, replay))
		return
	}
	finish := func() error { return e.db.FinishAction(context.WithoutCancel(ctx), row) }
	if p.command {
		finish = func() error { return e.finishCommandRow(ctx, row, out, host) }
	}
	if err := finish(); err != nil {
		e.log.Error("record action result", "run", p.id, "device", host, "err", err)
		e.setFatal(&winrm.Error{Class: winrm.ClassFatal, Step: "record action result", Err: err})
	}
	e.auditResult(ctx, id, p, host, out, replay)
}

// attemptWithRetries runs one attempt after another while the failure is
// transient, with backoff; the action's own deadline is not retried (the
// command may have done its work).
func (e *Engine) attemptWithRetries(ctx context.Context, p *runPlan, d store.Device) actionOutcome {
	ao := e.actionOptions()
	for attempt := 0; ; attempt++ {
		out := e.attempt(ctx, p, d)
		out.attempts = attempt + 1
		if out.err == nil {
			return out
		}
		if ctx.Err() != nil {
			out.status = ActionCancelled
			out.message = "Cancelled while running (the command was signalled to stop)"
			if context.Cause(ctx) != errRunCancelled {
				out.message = "Cancelled: the engine closed while it ran"
			}
			return out
		}
		err := out.err
		class := winrm.ClassOf(err)
		switch {
		case errors.Is(err, context.DeadlineExceeded) && !isConnectStep(err):
			out.status, out.message = ActionFailed, fmt.Sprintf("Timed out after %s", p.timeout)
			return out
		case class == winrm.ClassTransient && attempt < ao.Retries:
			wait := winrm.Backoff(attempt, 250*time.Millisecond, 5*time.Second)
			e.log.Debug("action retry", "run", p.id, "device", d.Hostname, "attempt", attempt+1, "wait", wait, "err", err)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
			continue
		case class == winrm.ClassDevice && isUnreachable(err) || notAnswering(err):
			out.status, out.message = ActionQueued, "Queued: device offline ("+shortReason(err)+")"
			if !p.queueable {
				out.status, out.message = ActionFailed, "Device offline ("+shortReason(err)+")"
			}
			return out
		default:
			out.status, out.message = ActionFailed, shortReason(err)
			return out
		}
	}
}

// isConnectStep reports a deadline hit while acquiring or creating the
// shell: nothing ran on the host yet.
func isConnectStep(err error) bool {
	var ce *winrm.Error
	return errors.As(err, &ce) && (ce.Step == "create shell" || ce.Step == "wait for a shell" || ce.Step == "acquire shell")
}

// notAnswering reports a device that did not answer the request for a
// shell in time (after the retries): nothing ran there, and it is as good
// as offline.
func notAnswering(err error) bool {
	var ce *winrm.Error
	return errors.As(err, &ce) && ce.Step == "create shell" && errors.Is(err, context.DeadlineExceeded)
}

// isUnreachable reports a device that could not be reached at all
// (refused, no route, name not found): its action waits in the queue.
// Other device-class failures (a broken answer, a quota) fail the action.
func isUnreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTDOWN) {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

// shortReason is an error as one line that reads the same for every
// host (no addresses or ports), so results group.
func shortReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return "host unreachable"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "host name not found"
	}
	var he *winrm.HTTPError
	if errors.As(err, &he) {
		return he.Error()
	}
	var le *winrm.LoopExitError
	if errors.As(err, &le) {
		return le.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	var ce *winrm.Error
	if errors.As(err, &ce) {
		return ce.Step + ": " + ce.Err.Error()
	}
	return err.Error()
}

// errText is an error for a queue entry's last_error: the step and the
// cause, without the "poll HOST" of the engine's error text.
func errText(err error) string {
	var ce *winrm.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ce):
		return ce.Step + ": " + ce.Err.Error()
	}
	return err.Error()
}

// attempt runs the action once on d. A panic while it runs (reading the
// host's answer, say) fails this device's attempt, not the engine.
func (e *Engine) attempt(ctx context.Context, p *runPlan, d store.Device) (out actionOutcome) {
	defer func() {
		if r := recover(); r != nil {
			err := e.panicked(d.Hostname, "action "+p.spec.Name, r)
			out = actionOutcome{status: ActionFailed, message: shortReason(err), err: err}
		}
	}()
	if p.spec.Name != ActWake { // a magic packet goes to the MAC, not to whoever has the address
		if err := e.refuseWrongHost(d, "action "+p.spec.Name); err != nil {
			return actionOutcome{err: err}
		}
	}
	switch p.spec.Name {
	case ActWake:
		return e.wake(ctx, d)
	case ActFilePush:
		return e.pushFile(ctx, p, d)
	case ActFilePull:
		return e.pullFile(ctx, p, d)
	}
	res, err := e.runScriptOn(ctx, d, p.sc, p.timeout)
	if err != nil {
		return actionOutcome{err: err}
	}
	if p.command {
		return commandOutcome(res)
	}
	if p.spec.Name == ActRunScript {
		return libraryOutcome(res)
	}
	out, _ = actionDoc(res)
	return out
}

// runScriptOn runs a script on d within timeout, under the device's
// transport policy, through the session pool when it can.
func (e *Engine) runScriptOn(ctx context.Context, d store.Device, sc *winrm.Script, timeout time.Duration) (winrm.Result, error) {
	return e.runScriptRaw(ctx, e.options(), d, sc, timeout)
}

// actionDoc reads an action script's answer: one JSON document
// {"ok","message","data"}. An answer without it is a failure with the
// first error line (or the exit code) as the message.
func actionDoc(res winrm.Result) (actionOutcome, json.RawMessage) {
	exit := res.Exit
	out := actionOutcome{stdout: string(res.Stdout), stderr: strings.Join(res.Errors, "\n"), exit: &exit}
	var doc struct {
		OK      bool            `json:"ok"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(bytes.TrimPrefix(bytes.TrimSpace(res.Stdout), utf8BOM), &doc); err != nil || doc.Message == "" && !doc.OK {
		out.status = ActionFailed
		switch {
		case len(res.Errors) > 0:
			out.message = firstLine(res.Errors[0])
		case exit != 0:
			out.message = fmt.Sprintf("exit code %d", exit)
		default:
			out.message = "unreadable answer: " + firstLine(string(res.Stdout))
		}
		return out, nil
	}
	out.status, out.message = ActionCompleted, doc.Message
	if !doc.OK {
		out.status = ActionFailed
	}
	return out, doc.Data
}

// utf8BOM is a byte order mark a .NET writer may put before a document.
var utf8BOM = []byte("\xEF\xBB\xBF")

// libraryOutcome reads a library script's result: exit 0 is Completed
// with the last line of output as the message; else Failed with the first
// error line. Write-Host text (the loop returns it apart) and warnings
// are kept with the output and the errors.
func libraryOutcome(res winrm.Result) actionOutcome {
	exit := res.Exit
	stdout := string(res.Stdout)
	if len(res.Info) > 0 {
		stdout = strings.Join(res.Info, "\r\n") + "\r\n" + stdout
	}
	stderr := strings.Join(res.Errors, "\n")
	for _, w := range res.Warnings {
		stderr = strings.TrimPrefix(stderr+"\nWARNING: "+w, "\n")
	}
	out := actionOutcome{stdout: stdout, stderr: stderr, exit: &exit}
	last := lastLine(stdout)
	if exit == 0 && len(res.Errors) == 0 {
		out.status, out.message = ActionCompleted, last
		if last == "" {
			out.message = "Completed (no output)"
		}
		return out
	}
	out.status = ActionFailed
	switch {
	case len(res.Errors) > 0:
		out.message = firstLine(res.Errors[0])
	case last != "":
		out.message = fmt.Sprintf("exit code %d: %s", exit, last)
	default:
		out.message = fmt.Sprintf("exit code %d", exit)
	}
	return out
}

func firstLine(s string) string {
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

func lastLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// oneLine keeps a message to one line of at most 300 bytes.
func oneLine(s string) string {
	s = firstLine(s)
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}

// truncateOutput keeps at most max bytes of s, with a marker saying how
// much was cut.
func truncateOutput(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut-- // not in the middle of a UTF-8 sequence
	}
	return s[:cut] + fmt.Sprintf("\n... [truncated %d bytes]", len(s)-cut)
}
