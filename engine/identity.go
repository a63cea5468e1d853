package engine

import (
	"fmt"
	"strings"
)

// Role is what a user may do (DESIGN.md, Security).
type Role int

// Roles, ordered by what they may do.
const (
	RoleViewer   Role = iota + 1 // reads dashboards, inventory, alerts, reports
	RoleOperator                 // devices, actions, alerts, queue
	RoleAdmin                    // everything: config, users, credentials, script library
)

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "Viewer"
	case RoleOperator:
		return "Operator"
	case RoleAdmin:
		return "Admin"
	}
	return "None"
}

// ParseRole reads admin, operator or viewer (any case).
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "admin":
		return RoleAdmin, nil
	case "operator":
		return RoleOperator, nil
	case "viewer":
		return RoleViewer, nil
	}
	return 0, fmt.Errorf("role %q is not one of admin, operator, viewer", s)
}

// Via is the front end a request came through.
type Via string

// Front ends.
const (
	ViaLocal  Via = "local"  // the console on this machine
	ViaSSH    Via = "ssh"    // the console over SSH (rmm serve --ssh)
	ViaCLI    Via = "cli"    // a one-shot command (rmm import, rmm poll, ...)
	ViaSystem Via = "system" // the engine's own schedules
)

// Identity is who asks: every request carries one, and the engine checks
// its role before any side effect.
type Identity struct {
	User       string // OS user (local, cli) or SSH user name
	Role       Role
	RemoteAddr string // SSH client address; for local and cli the host's address
	Via        Via
	KeyFP      string // SSH public key fingerprint (SHA256:...), when Via is ssh
}

func (id Identity) String() string {
	s := fmt.Sprintf("%s (%s via %s", id.User, id.Role, id.Via)
	if id.RemoteAddr != "" {
		s += " from " + id.RemoteAddr
	}
	return s + ")"
}

// SystemIdentity is the engine itself, for scheduled work.
func SystemIdentity() Identity {
	return Identity{User: "rmm-scheduler", Role: RoleAdmin, Via: ViaSystem}
}
