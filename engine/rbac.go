package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// Permission names one kind of request. Every request declares the one it
// needs; the matrix below says which role holds it.
type Permission string

// Permissions.
const (
	PermFleetView   Permission = "fleet.view"   // devices, metrics, inventory, alerts, reports
	PermAuditView   Permission = "audit.view"   // the audit log
	PermDevicesPoll Permission = "devices.poll" // poll now
	PermDevicesEdit Permission = "devices.edit" // import, add, update, remove devices
	// PermDevicesTrust: what decides where a credential goes and how it
	// travels: a device's CredentialId, a transport downgrade (http,
	// AllowUnencrypted, InsecureSkipVerify, CABundle), and the address of
	// a device reached without TLS verification.
	PermDevicesTrust    Permission = "devices.trust"
	PermAlertsEdit      Permission = "alerts.edit"      // acknowledge, resolve
	PermActionsRun      Permission = "actions.run"      // remote actions
	PermQueueEdit       Permission = "queue.edit"       // cancel queued actions
	PermScriptsEdit     Permission = "scripts.edit"     // the script library
	PermCollectionsEdit Permission = "collections.edit" // saved collections (dynamic groups)
	PermCredsView       Permission = "credentials.view" // credential names, users and ages (never secrets)
	PermCredsEdit       Permission = "credentials.edit" // set, remove, test credentials
	PermConfigEdit      Permission = "config.edit"      // configuration, schedules, maintenance
	PermUsersEdit       Permission = "users.edit"       // users and roles
	// Patch management: approving or denying updates for a ring,
	// installing them (and cancelling installs), and approving past a
	// ring's gate.
	PermPatchesApprove  Permission = "patches.approve"
	PermPatchesInstall  Permission = "patches.install"
	PermPatchesOverride Permission = "patches.override"
)

// minRole is the role matrix: the least role holding each permission. A
// permission missing here is held by nobody (and a test fails).
var minRole = map[Permission]Role{
	PermFleetView:       RoleViewer,
	PermAuditView:       RoleOperator,
	PermDevicesPoll:     RoleOperator,
	PermDevicesEdit:     RoleOperator,
	PermDevicesTrust:    RoleAdmin,
	PermAlertsEdit:      RoleOperator,
	PermActionsRun:      RoleOperator,
	PermQueueEdit:       RoleOperator,
	PermScriptsEdit:     RoleAdmin,
	PermCollectionsEdit: RoleOperator,
	PermCredsView:       RoleOperator,
	PermCredsEdit:       RoleAdmin,
	PermConfigEdit:      RoleAdmin,
	PermUsersEdit:       RoleAdmin,

	PermPatchesApprove:  RoleOperator,
	PermPatchesInstall:  RoleOperator,
	PermPatchesOverride: RoleAdmin,
}

// Permissions lists every permission with the least role holding it.
func Permissions() map[Permission]Role {
	out := make(map[Permission]Role, len(minRole))
	for p, r := range minRole {
		out[p] = r
	}
	return out
}

// Can reports whether role r holds permission p.
func (r Role) Can(p Permission) bool {
	need, ok := minRole[p]
	return ok && r >= need
}

// DeniedError is a refused request.
type DeniedError struct {
	Role   Role
	Action string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("permission denied: %s may not %s", e.Role, e.Action)
}

// ErrDenied matches every DeniedError with errors.Is.
var ErrDenied = errors.New("permission denied")

// Is makes errors.Is(err, ErrDenied) true for a DeniedError.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// Request is one thing a front end asks of the engine. Only the engine
// defines requests (run and exec are unexported), and every one goes
// through Do, where its permission is checked and it is audited. Each
// request is a Req[T] for its result type T: Call and Ask return that T,
// so a request and its result cannot be mismatched.
type Request interface {
	// Action is the audit name, e.g. "devices.import".
	Action() string
	// Permission is what the caller's role must hold.
	Permission() Permission
	// Mutating requests are audited on success and failure; every
	// refusal is audited whatever the request.
	Mutating() bool
	// Targets names what the request touches (hostnames, names).
	Targets() []string
	// Details are the parameters for the audit row; never secret values.
	Details() map[string]any
	exec(ctx context.Context, e *Engine, id Identity) (any, error)
}

// Req is a request whose result is a T.
type Req[T any] interface {
	Request
	run(ctx context.Context, e *Engine, id Identity) (T, error)
}

// None is the result of a request that returns nothing but its error.
type None = struct{}

// Call runs a request on the engine as id, through Do, and returns its
// result typed.
func Call[T any](ctx context.Context, e *Engine, id Identity, r Req[T]) (T, error) {
	return resultAs[T](r, func() (any, error) { return e.Do(ctx, id, r) })
}

// Asker is a front end's engine bound to its caller (the console's
// Requester): Do runs a request as that caller.
type Asker interface {
	Do(ctx context.Context, r Request) (any, error)
}

// Ask runs a request through an identity-bound Asker and returns its
// result typed.
func Ask[T any](ctx context.Context, a Asker, r Req[T]) (T, error) {
	return resultAs[T](r, func() (any, error) { return a.Do(ctx, r) })
}

// resultAs types what Do returned. The engine's Do returns what the
// request's run returned, a T; a stand-in (a test's fake Asker) that
// answers something else gets an error, not a panic.
func resultAs[T any](r Request, do func() (any, error)) (T, error) {
	v, err := do()
	t, ok := v.(T)
	if !ok && v != nil {
		return t, errors.Join(err, fmt.Errorf("%s: the engine answered %T, want %T", r.Action(), v, t))
	}
	return t, err
}

// Do authorizes, audits and runs a request: the one entry point for
// everything a front end asks. A refused request has no side effect but
// its audit row. Do's refusal and failures are returned as errors; the
// result's type depends on the request.
//
// A mutating request is audited before it takes effect, as DESIGN.md
// says: a "pending" row first (if it cannot be written, the request is
// not run and the engine turns Fatal), then, once it ran, a row with its
// outcome (success, failure, or denied when the request refused part of
// what was asked) that names the pending row's id in its details. Both
// rows are links of the hash chain; a pending row with no outcome after
// it is a change whose end the log did not see (a crash). A request
// whose only effect is its own row (a login, a logout) is written once.
//
// A panic while a request runs is recovered into an error (and audited
// as a failure): one bad request must not end a server other users are
// connected to.
func (e *Engine) Do(ctx context.Context, id Identity, r Request) (any, error) {
	if !id.Role.Can(r.Permission()) {
		err := &DeniedError{Role: id.Role, Action: r.Action()}
		e.audit(ctx, id, r, store.AuditDenied, err)
		e.log.Warn("request denied", "user", id.User, "role", id.Role.String(), "via", string(id.Via), "action", r.Action())
		return nil, err
	}
	if !r.Mutating() {
		return e.runRequest(ctx, id, r)
	}
	if _, once := r.(recordOnly); once {
		res, err := e.runRequest(ctx, id, r)
		e.audit(ctx, id, r, auditOutcome(err), err)
		return res, err
	}
	pending, err := e.auditPending(ctx, id, r)
	if err != nil {
		return nil, err
	}
	res, err := e.runRequest(ctx, id, r)
	e.auditDone(ctx, id, r, auditOutcome(err), err, pending)
	return res, err
}

// recordOnly is implemented by requests whose only effect is their audit
// row: they are written once, not pending then done.
type recordOnly interface{ recordOnly() }

// runRequest runs a request, turning a panic into an error.
func (e *Engine) runRequest(ctx context.Context, id Identity, r Request) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, e.panicked("", "request "+r.Action(), p)
		}
	}()
	return r.exec(ctx, e, id)
}

// auditOutcome is the audit result of a request that ran and returned
// err: a refusal of part of what was asked (ErrDenied) is "denied".
func auditOutcome(err error) string {
	switch {
	case err == nil:
		return store.AuditSuccess
	case errors.Is(err, ErrDenied):
		return store.AuditDenied
	}
	return store.AuditFailure
}

// auditPending writes the row of a request about to run and returns its
// id. When it cannot be written the engine turns Fatal and the request
// must not run.
func (e *Engine) auditPending(ctx context.Context, id Identity, r Request) (int64, error) {
	row, err := e.appendAudit(ctx, id, r, store.AuditPending, nil, 0)
	if err != nil {
		ferr := &winrm.Error{Class: winrm.ClassFatal, Step: "write audit row", Err: err}
		e.setFatal(ferr)
		return 0, fmt.Errorf("%s not done: it could not be recorded: %w", r.Action(), ferr)
	}
	return row.ID, nil
}

// auditDone writes the outcome row of a request whose pending row is
// pending.
func (e *Engine) auditDone(ctx context.Context, id Identity, r Request, result string, reqErr error, pending int64) {
	if _, err := e.appendAudit(ctx, id, r, result, reqErr, pending); err != nil {
		e.setFatal(&winrm.Error{Class: winrm.ClassFatal, Step: "write audit row", Err: err})
	}
}

// audit writes the request's audit row. A failing audit write is Fatal:
// rmm must not go on changing things it cannot record.
func (e *Engine) audit(ctx context.Context, id Identity, r Request, result string, reqErr error) {
	e.auditDone(ctx, id, r, result, reqErr, 0)
}

// appendAudit writes one row for r; pending, when not 0, is the id of
// the row that announced it.
func (e *Engine) appendAudit(ctx context.Context, id Identity, r Request, result string, reqErr error, pending int64) (store.AuditEntry, error) {
	return e.db.AppendAudit(context.WithoutCancel(ctx), auditEntry(id, r, result, reqErr, pending))
}

// auditEntry is the audit row of a request; pending, when not 0, is the
// id of the row that announced it.
func auditEntry(id Identity, r Request, result string, reqErr error, pending int64) store.AuditEntry {
	details := r.Details()
	if details == nil {
		details = map[string]any{}
	}
	if reqErr != nil {
		details["error"] = reqErr.Error()
	}
	if pending != 0 {
		details["pending"] = pending
	}
	return store.AuditEntry{
		At: time.Now().UTC(), User: id.User, Role: id.Role.String(), Via: string(id.Via), RemoteAddr: id.RemoteAddr,
		Action: r.Action(), Targets: r.Targets(), Result: result, Details: details,
	}
}
