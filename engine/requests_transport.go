package engine

import "context"

// InsecureTLSUsed records that the engine reached a device without
// verifying its TLS certificate (the device's insecure_skip_verify). The
// engine sends it itself, as SystemIdentity, once per device per
// process; it changes nothing but the audit log.
type InsecureTLSUsed struct{ Host string }

// Action implements Request.
func (InsecureTLSUsed) Action() string { return "transport.insecure_skip_verify" }

// Permission implements Request: only the engine (an Admin identity)
// writes it, so a front end cannot add such rows.
func (InsecureTLSUsed) Permission() Permission { return PermConfigEdit }

// Mutating implements Request: it is audited.
func (InsecureTLSUsed) Mutating() bool { return true }

// Targets implements Request.
func (r InsecureTLSUsed) Targets() []string { return []string{r.Host} }

// Details implements Request.
func (InsecureTLSUsed) Details() map[string]any {
	return map[string]any{"tls_verification": "skipped"}
}

func (InsecureTLSUsed) run(context.Context, *Engine, Identity) (None, error) { return None{}, nil }

func (InsecureTLSUsed) recordOnly() {}
