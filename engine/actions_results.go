package engine

// Action runs after they start: cancel, progress, results grouped for
// the console and the CLI, and the audit record of each device's result.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rmmhq/rmm/store"
)

// cancelRun stops a run in this engine and cancels its queued entries.
func (e *Engine) cancelRun(ctx context.Context, id Identity, runID string) error {
	if _, err := e.db.GetRun(ctx, runID); err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	lr := e.act.liveRun(runID)
	if lr != nil {
		e.act.mu.Lock()
		lr.by = id.User
		e.act.mu.Unlock()
		lr.cancel(errRunCancelled)
	}
	entries, err := e.db.CancelRunQueue(context.WithoutCancel(ctx), runID, id.User, time.Now().UTC())
	if err != nil {
		return err
	}
	if lr != nil {
		select {
		case <-lr.done:
		case <-ctx.Done():
			return fmt.Errorf("cancel run %s: %w", runID, ctx.Err())
		}
	}
	if lr == nil && len(entries) == 0 {
		return fmt.Errorf("cancel run %s: nothing to cancel (it is not running in this rmm process and has no queued actions)", runID)
	}
	return nil
}

// WaitRun blocks until a run this engine started has ended its fan-out
// (every device's result recorded and audited), or ctx ends. A run that
// finished, or that another rmm process runs, returns at once.
func (e *Engine) WaitRun(ctx context.Context, runID string) error {
	lr := e.act.liveRun(runID)
	if lr == nil {
		return nil
	}
	select {
	case <-lr.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for run %s: %w", runID, context.Cause(ctx))
	}
}

// runProgress reads a run and its per-device results; brief leaves out
// (and does not read) their stdout and stderr.
func (e *Engine) runProgress(ctx context.Context, runID string, brief bool) (RunProgress, error) {
	rc, err := e.db.GetRun(ctx, runID)
	if err != nil {
		return RunProgress{}, err
	}
	rows, err := e.db.ListActionRows(ctx, store.ActionFilter{RunID: runID, Limit: 1 << 30, NoOutput: brief})
	if err != nil {
		return RunProgress{}, err
	}
	p := RunProgress{RunSummary: runSummary(rc), Results: make([]ActionResult, len(rows))}
	for i, r := range rows {
		p.Results[i] = actionResult(r)
	}
	p.Groups = GroupResults(p.Results)
	return p, nil
}

func runSummary(rc store.RunCounts) RunSummary {
	s := RunSummary{ID: rc.ID, Action: rc.Action, RequestedBy: rc.RequestedBy, StartedAt: rc.StartedAt, FinishedAt: rc.FinishedAt,
		Total: rc.Total, Finished: !rc.FinishedAt.IsZero()}
	s.Pending, s.Running, s.Completed = rc.ByStatus[ActionPending], rc.ByStatus[ActionRunning], rc.ByStatus[ActionCompleted]
	s.Failed, s.Cancelled, s.Queued, s.Expired = rc.ByStatus[ActionFailed], rc.ByStatus[ActionCancelled], rc.ByStatus[ActionQueued], rc.ByStatus[ActionExpired]
	return s
}

func actionResult(r store.ActionRow) ActionResult {
	return ActionResult{ID: r.ID, RunID: r.RunID, DeviceID: r.DeviceID, Host: r.Host, Action: r.Action, Params: r.Params,
		Status: r.Status, Message: r.Message, Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode, Duration: r.Duration,
		Attempts: r.Attempts, ScriptVersion: r.ScriptVersion, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
}

// GroupResults folds results with the same status and message, biggest
// group first (then by status and message), hosts in order.
func GroupResults(results []ActionResult) []ResultGroup {
	idx := map[[2]string]int{}
	var out []ResultGroup
	for _, r := range results {
		msg := r.Message
		if r.Status == ActionPending || r.Status == ActionRunning || r.Status == ActionQueued {
			msg = "" // still moving, or waiting: one group each
		}
		k := [2]string{r.Status, msg}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, ResultGroup{Status: r.Status, Message: msg})
		}
		out[i].Count++
		out[i].Hosts = append(out[i].Hosts, r.Host)
	}
	slices.SortStableFunc(out, func(a, b ResultGroup) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		if c := strings.Compare(a.Status, b.Status); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	for i := range out {
		slices.Sort(out[i].Hosts)
	}
	return out
}

// FormatGroups renders groups as one line: "212 Completed: Spooler
// restarted / 3 Failed: Access is denied / 2 Queued".
func FormatGroups(groups []ResultGroup) string {
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = fmt.Sprintf("%d %s", g.Count, g.Status)
		if g.Message != "" {
			parts[i] += ": " + g.Message
		}
	}
	return strings.Join(parts, " / ")
}

// listRuns lists runs, newest first.
func (e *Engine) listRuns(ctx context.Context, device string, limit int) ([]RunSummary, error) {
	rcs, err := e.db.ListRuns(ctx, device, limit)
	if err != nil {
		return nil, err
	}
	out := make([]RunSummary, len(rcs))
	for i, rc := range rcs {
		out[i] = runSummary(rc)
	}
	return out, nil
}

// listActions reads per-device results, newest first.
func (e *Engine) listActions(ctx context.Context, device, runID string, limit int) ([]ActionResult, error) {
	rows, err := e.db.ListActionRows(ctx, store.ActionFilter{Host: device, RunID: runID, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]ActionResult, len(rows))
	for i, r := range rows {
		out[i] = actionResult(r)
	}
	return out, nil
}

// auditParams are the params for an audit row (never a secret: actions
// take none, and file contents are not params).
func auditParams(p map[string]string) map[string]string { return p }

// deviceResult is the audit row of one device's result of a run (or of a
// queue replay or expiry). The engine writes it; it is not a request a
// front end can make (exec refuses).
type deviceResult struct {
	runID, action, host, status, message, requestedBy string
	attempts                                          int
	replay                                            bool
}

// Action implements Request.
func (deviceResult) Action() string { return "actions.result" }

// Permission implements Request.
func (deviceResult) Permission() Permission { return PermActionsRun }

// Mutating implements Request.
func (deviceResult) Mutating() bool { return true }

// Targets implements Request.
func (r deviceResult) Targets() []string { return []string{r.host} }

// Details implements Request.
func (r deviceResult) Details() map[string]any {
	return map[string]any{"run": r.runID, "action": r.action, "status": r.status, "message": r.message,
		"attempts": r.attempts, "replay": r.replay, "requested_by": r.requestedBy}
}

func (deviceResult) run(context.Context, *Engine, Identity) (None, error) {
	return None{}, errors.New("an action result is recorded by the engine, not requested")
}

// auditResult writes the audit row of one device's result.
func (e *Engine) auditResult(ctx context.Context, id Identity, p *runPlan, host string, out actionOutcome, replay bool) {
	r := deviceResult{runID: p.id, action: p.spec.Name, host: host, status: out.status, message: oneLine(out.message),
		requestedBy: p.requestedBy, attempts: out.attempts, replay: replay}
	result := store.AuditSuccess
	var err error
	switch out.status {
	case ActionFailed, ActionCancelled, ActionExpired:
		result, err = store.AuditFailure, errors.New(r.message)
	}
	e.audit(context.WithoutCancel(ctx), id, r, result, err)
}
