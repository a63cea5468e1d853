package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// This file holds the exported types of remote actions, runs, the script
// library and the offline queue (notes: actions-api.md), and their
// requests. The behaviour lives in actions_catalog.go, actions_runner.go,
// actions_queue.go and actions_library.go.

// ErrConfirmRequired is wrapped by StartRun when a destructive action was
// not confirmed.
var ErrConfirmRequired = errors.New("confirmation required")

// ParamSpec is one typed parameter of an action or library script.
type ParamSpec struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"` // string, int, bool, choice, path, file (a local file path, FileCopy push)
	Default  string   `json:"default,omitempty"`
	Required bool     `json:"required"`
	Choices  []string `json:"choices,omitempty"`
	Help     string   `json:"help,omitempty"`
}

// ActionSpec is one entry of the catalog.
type ActionSpec struct {
	Name        string      `json:"name"`  // CLI name: reboot, shutdown, wake, ...
	Title       string      `json:"title"` // "Restart service"
	Description string      `json:"description"`
	Params      []ParamSpec `json:"params"`
	Destructive bool        `json:"destructive"` // always needs confirmation

	script      string                              // embedded script name (action_*), "" for console-side actions
	confirmWhen func(params map[string]string) bool // extra destructive cases (service op=stop)
	single      bool                                // one device per run (file-pull)
	open        bool                                // takes parameters beyond Params (run-script: the script's own)
	wildcards   bool                                // its name goes to a cmdlet's -Name, which takes wildcards (actions_wildcard.go)
}

// Action statuses (the actions table).
const (
	ActionPending   = "Pending"
	ActionRunning   = "Running"
	ActionCompleted = "Completed"
	ActionFailed    = "Failed"
	ActionCancelled = "Cancelled"
	ActionQueued    = "Queued"
	ActionExpired   = "Expired"
)

// Offline queue entry states.
const (
	QueuePending   = "Pending"
	QueueReplaying = "Replaying"
	QueueDone      = "Done"
	QueueFailed    = "Failed"
	QueueExpired   = "Expired"
	QueueCancelled = "Cancelled"
)

// RunTarget picks devices; exactly one of its fields is set.
type RunTarget struct {
	DeviceIDs  []int64  `json:"device_ids,omitempty"`
	Hosts      []string `json:"hosts,omitempty"`
	Site       string   `json:"site,omitempty"`
	Group      string   `json:"group,omitempty"`      // a tag or a device group
	Filter     string   `json:"filter,omitempty"`     // the console's filter grammar (engine/filter), inventory terms included
	Collection string   `json:"collection,omitempty"` // a saved collection's members
}

// String names the target for audit rows and messages.
func (t RunTarget) String() string {
	switch {
	case len(t.DeviceIDs) > 0:
		return fmt.Sprintf("%d device(s)", len(t.DeviceIDs))
	case len(t.Hosts) > 0:
		return fmt.Sprintf("%d host(s)", len(t.Hosts))
	case t.Site != "":
		return "site " + t.Site
	case t.Group != "":
		return "group " + t.Group
	case t.Filter != "":
		return "filter " + t.Filter
	case t.Collection != "":
		return "collection " + t.Collection
	}
	return "nothing"
}

// RunInfo is what StartRun returns: the run has started.
type RunInfo struct {
	ID        string    `json:"id"`
	Action    string    `json:"action"`
	Total     int       `json:"total"`
	StartedAt time.Time `json:"started_at"`
}

// RunSummary counts a run's per-device results by status.
type RunSummary struct {
	ID          string    `json:"id"`
	Action      string    `json:"action"`
	RequestedBy string    `json:"requested_by"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"` // zero while running
	Total       int       `json:"total"`
	Pending     int       `json:"pending"`
	Running     int       `json:"running"`
	Completed   int       `json:"completed"`
	Failed      int       `json:"failed"`
	Cancelled   int       `json:"cancelled"`
	Queued      int       `json:"queued"`
	Expired     int       `json:"expired"`
	Finished    bool      `json:"finished"`
}

// RunProgress is a run with its per-device results.
type RunProgress struct {
	RunSummary
	Results []ActionResult `json:"results"` // one per device
	Groups  []ResultGroup  `json:"groups"`  // identical status+message folded, biggest first
}

// ResultGroup folds the results with one status and message.
type ResultGroup struct {
	Status  string   `json:"status"`
	Message string   `json:"message"`
	Count   int      `json:"count"`
	Hosts   []string `json:"hosts"`
}

// ActionResult is one device's result of a run (one row of the actions
// table).
type ActionResult struct {
	ID            int64             `json:"id"`
	RunID         string            `json:"run_id"`
	DeviceID      int64             `json:"device_id"`
	Host          string            `json:"host"`
	Action        string            `json:"action"`
	Params        map[string]string `json:"params"`
	Status        string            `json:"status"`
	Message       string            `json:"message"`
	Stdout        string            `json:"stdout"`
	Stderr        string            `json:"stderr"`
	ExitCode      *int              `json:"exit_code"`
	Duration      time.Duration     `json:"duration_ns"`
	Attempts      int               `json:"attempts"`
	ScriptVersion int               `json:"script_version"`
	StartedAt     time.Time         `json:"started_at"`
	FinishedAt    time.Time         `json:"finished_at"`
}

// QueueEntry is one action waiting in the offline queue.
type QueueEntry struct {
	ID          int64             `json:"id"`
	DeviceID    int64             `json:"device_id"`
	Host        string            `json:"host"`
	Action      string            `json:"action"`
	Params      map[string]string `json:"params"`
	RequestedBy string            `json:"requested_by"`
	EnqueuedAt  time.Time         `json:"enqueued_at"`
	ExpiresAt   time.Time         `json:"expires_at"`
	State       string            `json:"state"`
	Attempts    int               `json:"attempts"`
	LastError   string            `json:"last_error"`
	RunID       string            `json:"run_id"`
}

// LibraryScript is one version of a script in the library.
type LibraryScript struct {
	Name        string        `json:"name"`
	Version     int           `json:"version"`
	Description string        `json:"description"`
	Params      []ParamSpec   `json:"params"`
	Timeout     time.Duration `json:"timeout_ns"`
	CreatedBy   string        `json:"created_by"`
	CreatedAt   time.Time     `json:"created_at"`
	Body        string        `json:"body"`
}

// StartRun starts a run of a catalog action on the target's devices. A
// destructive action needs Confirmed, else the error wraps
// ErrConfirmRequired. exec returns RunInfo; the run goes on in the
// background (GetRun, WaitRun).
type StartRun struct {
	Name      string            // catalog action name (the field cannot be called Action: that is the Request method)
	Params    map[string]string // never secrets
	Target    RunTarget
	Confirmed bool
	Expiry    time.Duration // offline-queue expiry; 0: actions.queue_expiry (default 7 days)
}

// Action implements Request.
func (StartRun) Action() string { return "actions.run" }

// Permission implements Request.
func (StartRun) Permission() Permission { return PermActionsRun }

// Mutating implements Request.
func (StartRun) Mutating() bool { return true }

// Targets implements Request.
func (r StartRun) Targets() []string {
	switch {
	case len(r.Target.Hosts) > 0:
		return capTargets(append([]string(nil), r.Target.Hosts...))
	default:
		return []string{r.Target.String()}
	}
}

// Details implements Request.
func (r StartRun) Details() map[string]any {
	return map[string]any{"action": r.Name, "params": auditParams(r.Params), "target": r.Target.String(),
		"confirmed": r.Confirmed, "expiry": r.Expiry.String()}
}

func (r StartRun) run(ctx context.Context, e *Engine, id Identity) (RunInfo, error) {
	return e.startRun(ctx, id, r)
}

// CancelRun cancels a run: devices not started are Cancelled, in-flight
// commands are signalled to stop, and the run's queued entries are
// cancelled.
type CancelRun struct{ RunID string }

// Action implements Request.
func (CancelRun) Action() string { return "actions.cancel" }

// Permission implements Request.
func (CancelRun) Permission() Permission { return PermActionsRun }

// Mutating implements Request.
func (CancelRun) Mutating() bool { return true }

// Targets implements Request.
func (r CancelRun) Targets() []string { return []string{r.RunID} }

// Details implements Request.
func (r CancelRun) Details() map[string]any { return map[string]any{"run": r.RunID} }

func (r CancelRun) run(ctx context.Context, e *Engine, id Identity) (None, error) {
	return None{}, e.cancelRun(ctx, id, r.RunID)
}

// GetRun reads one run's progress; exec returns RunProgress.
type GetRun struct {
	RunID string
	// Brief leaves every result's Stdout and Stderr empty (they are not
	// read from the database): for views that poll a run's progress and
	// show one device's output at a time (GetActionResult).
	Brief bool
}

// Action implements Request.
func (GetRun) Action() string { return "actions.get" }

// Permission implements Request.
func (GetRun) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (GetRun) Mutating() bool { return false }

// Targets implements Request.
func (r GetRun) Targets() []string { return []string{r.RunID} }

// Details implements Request.
func (r GetRun) Details() map[string]any { return map[string]any{"run": r.RunID, "brief": r.Brief} }

func (r GetRun) run(ctx context.Context, e *Engine, _ Identity) (RunProgress, error) {
	return e.runProgress(ctx, r.RunID, r.Brief)
}

// GetActionResult reads one device's result of a run in full, stdout and
// stderr included; ID is ActionResult.ID. exec returns ActionResult; the
// error wraps store.ErrNotFound when there is no such result.
type GetActionResult struct{ ID int64 }

// Action implements Request.
func (GetActionResult) Action() string { return "actions.get_result" }

// Permission implements Request.
func (GetActionResult) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (GetActionResult) Mutating() bool { return false }

// Targets implements Request.
func (r GetActionResult) Targets() []string { return []string{fmt.Sprintf("action %d", r.ID)} }

// Details implements Request.
func (r GetActionResult) Details() map[string]any { return map[string]any{"id": r.ID} }

func (r GetActionResult) run(ctx context.Context, e *Engine, _ Identity) (ActionResult, error) {
	row, err := e.db.GetActionRow(ctx, r.ID)
	if err != nil {
		return ActionResult{}, err
	}
	return actionResult(row), nil
}

// ListRuns lists runs, newest first; exec returns []RunSummary. Device
// limits it to runs that touched that host.
type ListRuns struct {
	Device string
	Limit  int
}

// Action implements Request.
func (ListRuns) Action() string { return "actions.runs" }

// Permission implements Request.
func (ListRuns) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (ListRuns) Mutating() bool { return false }

// Targets implements Request.
func (r ListRuns) Targets() []string { return nil }

// Details implements Request.
func (r ListRuns) Details() map[string]any {
	return map[string]any{"device": r.Device, "limit": r.Limit}
}

func (r ListRuns) run(ctx context.Context, e *Engine, _ Identity) ([]RunSummary, error) {
	return e.listRuns(ctx, r.Device, r.Limit)
}

// ListActions reads per-device results (history), newest first; exec
// returns []ActionResult.
type ListActions struct {
	Device string
	RunID  string
	Limit  int
}

// Action implements Request.
func (ListActions) Action() string { return "actions.history" }

// Permission implements Request.
func (ListActions) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (ListActions) Mutating() bool { return false }

// Targets implements Request.
func (r ListActions) Targets() []string { return nil }

// Details implements Request.
func (r ListActions) Details() map[string]any {
	return map[string]any{"device": r.Device, "run": r.RunID, "limit": r.Limit}
}

func (r ListActions) run(ctx context.Context, e *Engine, _ Identity) ([]ActionResult, error) {
	return e.listActions(ctx, r.Device, r.RunID, r.Limit)
}

// ListQueue lists offline queue entries, oldest first; State "" lists
// every state. exec returns []QueueEntry.
type ListQueue struct{ State string }

// Action implements Request.
func (ListQueue) Action() string { return "queue.list" }

// Permission implements Request.
func (ListQueue) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (ListQueue) Mutating() bool { return false }

// Targets implements Request.
func (ListQueue) Targets() []string { return nil }

// Details implements Request.
func (r ListQueue) Details() map[string]any { return map[string]any{"state": r.State} }

func (r ListQueue) run(ctx context.Context, e *Engine, _ Identity) ([]QueueEntry, error) {
	return e.listQueue(ctx, r.State)
}

// CancelQueued cancels one Pending offline queue entry.
type CancelQueued struct{ ID int64 }

// Action implements Request.
func (CancelQueued) Action() string { return "queue.cancel" }

// Permission implements Request.
func (CancelQueued) Permission() Permission { return PermQueueEdit }

// Mutating implements Request.
func (CancelQueued) Mutating() bool { return true }

// Targets implements Request.
func (r CancelQueued) Targets() []string { return []string{fmt.Sprintf("queue entry %d", r.ID)} }

// Details implements Request.
func (r CancelQueued) Details() map[string]any { return map[string]any{"id": r.ID} }

func (r CancelQueued) run(ctx context.Context, e *Engine, id Identity) (None, error) {
	return None{}, e.cancelQueued(ctx, id, r.ID)
}

// AddScript adds a script to the library, as version 1 or as the next
// version of an existing name (older versions are kept); exec returns the
// new LibraryScript.
type AddScript struct {
	Name        string
	Description string
	Body        string
	Params      []ParamSpec
	Timeout     time.Duration
}

// Action implements Request.
func (AddScript) Action() string { return "scripts.add" }

// Permission implements Request.
func (AddScript) Permission() Permission { return PermScriptsEdit }

// Mutating implements Request.
func (AddScript) Mutating() bool { return true }

// Targets implements Request.
func (r AddScript) Targets() []string { return []string{r.Name} }

// Details implements Request: the body's size, not its text.
func (r AddScript) Details() map[string]any {
	names := make([]string, len(r.Params))
	for i, p := range r.Params {
		names[i] = p.Name
	}
	return map[string]any{"name": r.Name, "bytes": len(r.Body), "params": names, "timeout": r.Timeout.String()}
}

func (r AddScript) run(ctx context.Context, e *Engine, id Identity) (LibraryScript, error) {
	return e.addScript(ctx, id, r)
}

// ListScripts lists the library: every version of Name when it is set,
// else the latest version of each script. exec returns []LibraryScript.
type ListScripts struct{ Name string }

// Action implements Request.
func (ListScripts) Action() string { return "scripts.list" }

// Permission implements Request.
func (ListScripts) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (ListScripts) Mutating() bool { return false }

// Targets implements Request.
func (r ListScripts) Targets() []string { return nil }

// Details implements Request.
func (r ListScripts) Details() map[string]any { return map[string]any{"name": r.Name} }

func (r ListScripts) run(ctx context.Context, e *Engine, _ Identity) ([]LibraryScript, error) {
	return e.listScripts(ctx, r.Name)
}
