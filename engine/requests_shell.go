package engine

import (
	"context"
	"fmt"
)

// OpenShell opens an interactive remote PowerShell session on a device
// (see rshell.go); exec returns ShellInfo. DeviceID picks the device, else
// Host; when both are set they must name the same device.
type OpenShell struct {
	DeviceID int64
	Host     string
}

// Action implements Request.
func (OpenShell) Action() string { return "shell.open" }

// Permission implements Request.
func (OpenShell) Permission() Permission { return PermActionsRun }

// Mutating implements Request: a shell on a host is audited.
func (OpenShell) Mutating() bool { return true }

// Targets implements Request.
func (r OpenShell) Targets() []string {
	if r.Host != "" {
		return []string{r.Host}
	}
	return []string{fmt.Sprintf("device %d", r.DeviceID)}
}

// Details implements Request.
func (r OpenShell) Details() map[string]any { return map[string]any{"device_id": r.DeviceID} }

func (r OpenShell) run(ctx context.Context, e *Engine, id Identity) (ShellInfo, error) {
	return e.openShell(ctx, id, r.DeviceID, r.Host)
}

// ShellRun runs one line typed in a session; exec returns ShellOutput.
// The audit row holds the line as typed: it is what the admin ran on the
// host.
type ShellRun struct {
	SessionID string
	Line      string
	// Seq numbers the session's lines (1, 2, ...; 0: unnumbered), so a
	// ShellInterrupt of this line that arrives before the line does
	// still stops it.
	Seq int64
	// Width is the pane's width in columns: the line's output is
	// formatted that wide (0: winrm.DefaultSessionWidth).
	Width int
}

// Action implements Request.
func (ShellRun) Action() string { return "shell.run" }

// Permission implements Request.
func (ShellRun) Permission() Permission { return PermActionsRun }

// Mutating implements Request: every line is audited.
func (ShellRun) Mutating() bool { return true }

// Targets implements Request: the session's host.
func (r ShellRun) Targets() []string { return []string{shellHost(r.SessionID)} }

// Details implements Request.
func (r ShellRun) Details() map[string]any {
	return map[string]any{"session": r.SessionID, "line": r.Line}
}

func (r ShellRun) run(ctx context.Context, e *Engine, id Identity) (ShellOutput, error) {
	return e.shellRun(ctx, id, r.SessionID, r.Line, r.Seq, r.Width)
}

// ShellInterrupt stops the line running in a session (ctrl+c): the
// command is terminated and its shell deleted; the next line starts a new
// one. With Seq, it stops the line of that number (ShellRun.Seq) and any
// earlier one, even if it has not reached the engine yet; without, the
// line running now, if any.
type ShellInterrupt struct {
	SessionID string
	Seq       int64
}

// Action implements Request.
func (ShellInterrupt) Action() string { return "shell.interrupt" }

// Permission implements Request.
func (ShellInterrupt) Permission() Permission { return PermActionsRun }

// Mutating implements Request.
func (ShellInterrupt) Mutating() bool { return true }

// Targets implements Request.
func (r ShellInterrupt) Targets() []string { return []string{shellHost(r.SessionID)} }

// Details implements Request.
func (r ShellInterrupt) Details() map[string]any {
	return map[string]any{"session": r.SessionID, "seq": r.Seq}
}

func (r ShellInterrupt) run(_ context.Context, e *Engine, id Identity) (None, error) {
	return None{}, e.shellInterrupt(id, r.SessionID, r.Seq)
}

// CloseShell ends a session and deletes its shell on the host.
type CloseShell struct{ SessionID string }

// Action implements Request.
func (CloseShell) Action() string { return "shell.close" }

// Permission implements Request.
func (CloseShell) Permission() Permission { return PermActionsRun }

// Mutating implements Request.
func (CloseShell) Mutating() bool { return true }

// Targets implements Request.
func (r CloseShell) Targets() []string { return []string{shellHost(r.SessionID)} }

// Details implements Request.
func (r CloseShell) Details() map[string]any { return map[string]any{"session": r.SessionID} }

func (r CloseShell) run(_ context.Context, e *Engine, id Identity) (None, error) {
	return None{}, e.closeShell(id, r.SessionID)
}
