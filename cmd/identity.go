package cmd

import (
	"fmt"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
)

// localIdentity is who runs this process: the OS user, with the role the
// config gives them (DESIGN.md, Security). With no users configured, that
// user is Admin; with a non-empty list, a user not in it is refused.
// --read-only makes any identity a Viewer.
func (a *app) localIdentity(via engine.Via) (engine.Identity, error) {
	name := currentUser()
	id := engine.Identity{User: name, Role: engine.RoleAdmin, Via: via, RemoteAddr: hostAddress()}
	if len(a.cfg.Users) > 0 {
		found := false
		for _, u := range a.cfg.Users {
			if strings.EqualFold(u.Name, name) {
				role, err := engine.ParseRole(u.Role)
				if err != nil {
					return id, err
				}
				id.Role, found = role, true
				break
			}
		}
		if !found {
			return id, exitError{3, fmt.Errorf("permission denied: user %s is not in the users list of %s; ask an admin to add you", name, a.configFile())}
		}
	}
	if a.readOnly {
		id.Role = engine.RoleViewer
	}
	return id, nil
}

// unlistedAllowed are the commands an OS user missing from users: may
// still run: they read no fleet data (the simulator, benchmarks on it,
// checking a config file they name, the version), or serve other people
// (rmm serve runs as a service account, and checks every SSH user
// against users: itself).
var unlistedAllowed = []string{"rmm version", "rmm help", "rmm completion", "rmm sim", "rmm bench", "rmm config check", "rmm serve"}

// checkListed refuses (exit 3) an OS user missing from a non-empty
// users: list before a command reads anything of the fleet: devices,
// logs, the effective config and the action catalog included, as well as
// every command that sends requests (newcomer B5). See unlistedAllowed
// for the exceptions.
func (a *app) checkListed(cmd *cobra.Command) error {
	if len(a.cfg.Users) == 0 {
		return nil
	}
	path := cmd.CommandPath()
	for _, ok := range unlistedAllowed {
		if path == ok || strings.HasPrefix(path, ok+" ") {
			return nil
		}
	}
	_, err := a.localIdentity(engine.ViaCLI)
	return err
}

// hostAddress is this host's first non-loopback address, recorded in audit
// rows for local and CLI requests; it only reads the interface list.
func hostAddress() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}
