// Package sshserve serves the console over SSH (rmm serve --ssh): one
// ui.Model per SSH session, all over one shared engine, so operators on a
// jump host see the same live fleet at once.
//
// It owns the SSH front end only: the host key file, public-key
// authentication against the configured users, the identity of each
// session (user, role, client address, key fingerprint), the session
// limits (PTY required, max sessions, idle timeout), read-only scp of the
// user's own exports (exports.go) and a clean shutdown.
// It must not decide what a role may do: every request goes through the
// engine's Do with the session's identity, and the engine authorizes and
// audits it. It never touches SQLite or WinRM, never accepts passwords or
// keyboard-interactive logins, and never logs or shows anything secret.
package sshserve
