package engine

import "context"

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

func (OpenSession) recordOnly()  {}
func (CloseSession) recordOnly() {}
