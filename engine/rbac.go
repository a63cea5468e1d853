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
	PermFleetView   Permission = "fleet.view"       // devices, metrics, inventory, alerts, reports
	PermAuditView   Permission = "audit.view"       // the audit log
	PermDevicesPoll Permission = "devices.poll"     // poll now
	PermDevicesEdit Permission = "devices.edit"     // import, add, update, remove devices
	PermAlertsEdit  Permission = "alerts.edit"      // acknowledge, resolve
	PermActionsRun  Permission = "actions.run"      // remote actions
	PermQueueEdit   Permission = "queue.edit"       // cancel queued actions
	PermScriptsEdit Permission = "scripts.edit"     // the script library
	PermCredsView   Permission = "credentials.view" // credential names, users and ages (never secrets)
	PermCredsEdit   Permission = "credentials.edit" // set, remove, test credentials
	PermConfigEdit  Permission = "config.edit"      // configuration, schedules, maintenance
	PermUsersEdit   Permission = "users.edit"       // users and roles
)

// minRole is the role matrix: the least role holding each permission. A
// permission missing here is held by nobody (and a test fails).
var minRole = map[Permission]Role{
	PermFleetView:   RoleViewer,
	PermAuditView:   RoleOperator,
	PermDevicesPoll: RoleOperator,
	PermDevicesEdit: RoleOperator,
	PermAlertsEdit:  RoleOperator,
	PermActionsRun:  RoleOperator,
	PermQueueEdit:   RoleOperator,
	PermScriptsEdit: RoleAdmin,
	PermCredsView:   RoleOperator,
	PermCredsEdit:   RoleAdmin,
	PermConfigEdit:  RoleAdmin,
	PermUsersEdit:   RoleAdmin,
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
func (e *Engine) Do(ctx context.Context, id Identity, r Request) (any, error) {
	if !id.Role.Can(r.Permission()) {
		err := &DeniedError{Role: id.Role, Action: r.Action()}
		e.audit(ctx, id, r, store.AuditDenied, err)
		e.log.Warn("request denied", "user", id.User, "role", id.Role.String(), "via", string(id.Via), "action", r.Action())
		return nil, err
	}
	res, err := r.exec(ctx, e, id)
	if r.Mutating() {
		result := store.AuditSuccess
		if err != nil {
			result = store.AuditFailure
		}
		e.audit(ctx, id, r, result, err)
	}
	return res, err
}

// audit writes the request's audit row. A failing audit write is Fatal:
// rmm must not go on changing things it cannot record.
func (e *Engine) audit(ctx context.Context, id Identity, r Request, result string, reqErr error) {
	details := r.Details()
	if details == nil {
		details = map[string]any{}
	}
	if reqErr != nil {
		details["error"] = reqErr.Error()
	}
	_, err := e.db.AppendAudit(context.WithoutCancel(ctx), store.AuditEntry{
		At: time.Now().UTC(), User: id.User, Role: id.Role.String(), Via: string(id.Via), RemoteAddr: id.RemoteAddr,
		Action: r.Action(), Targets: r.Targets(), Result: result, Details: details,
	})
	if err != nil {
		e.setFatal(&winrm.Error{Class: winrm.ClassFatal, Step: "write audit row", Err: err})
	}
}
