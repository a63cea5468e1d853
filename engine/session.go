package engine

import (
	"context"
	"errors"
)

// OpenSession records that a console session started (SSH logins). It
// needs only read access, and it is audited with the client's address.
type OpenSession struct{ Term string }

// Action implements Request.
func (OpenSession) Action() string { return "session.open" }

// Permission implements Request.
func (OpenSession) Permission() Permission { return PermFleetView }

// Mutating implements Request: logins are audited.
func (OpenSession) Mutating() bool { return true }

// Targets implements Request.
func (OpenSession) Targets() []string { return nil }

// Details implements Request.
func (r OpenSession) Details() map[string]any { return map[string]any{"term": r.Term} }

func (OpenSession) run(context.Context, *Engine, Identity) (None, error) { return None{}, nil }

// CloseSession records that a console session ended.
type CloseSession struct{ Reason string }

// Action implements Request.
func (CloseSession) Action() string { return "session.close" }

// Permission implements Request.
func (CloseSession) Permission() Permission { return PermFleetView }

// Mutating implements Request: logouts are audited.
func (CloseSession) Mutating() bool { return true }

// Targets implements Request.
func (CloseSession) Targets() []string { return nil }

// Details implements Request.
func (r CloseSession) Details() map[string]any { return map[string]any{"reason": r.Reason} }

func (CloseSession) run(context.Context, *Engine, Identity) (None, error) { return None{}, nil }

// RefuseLogin records a refused SSH login: an unknown key, or the key of
// another user. The SSH front end sends it with the identity the client
// claimed (the typed user name, no role, the client's address and the key
// fingerprint), so Do refuses it like any request of a caller without a
// role, and its audit row says who tried, from where, with which key and
// why it was refused. Sent with a role, it fails (and is audited too).
type RefuseLogin struct {
	Reason      string // why the server refused, e.g. "unknown key"
	Fingerprint string // the key's SHA256 fingerprint
	Suppressed  int    // refusals not audited since the last audited one (rate limit)
}

// Action implements Request.
func (RefuseLogin) Action() string { return "session.login" }

// Permission implements Request.
func (RefuseLogin) Permission() Permission { return PermFleetView }

// Mutating implements Request: login attempts are audited.
func (RefuseLogin) Mutating() bool { return true }

// Targets implements Request.
func (RefuseLogin) Targets() []string { return nil }

// Details implements Request.
func (r RefuseLogin) Details() map[string]any {
	d := map[string]any{"reason": r.Reason, "fingerprint": r.Fingerprint}
	if r.Suppressed > 0 {
		d["suppressed_before"] = r.Suppressed
	}
	return d
}

func (r RefuseLogin) run(context.Context, *Engine, Identity) (None, error) {
	return None{}, errors.New("login refused: " + r.Reason)
}

func (OpenSession) recordOnly()  {}
func (CloseSession) recordOnly() {}
func (RefuseLogin) recordOnly()  {}
