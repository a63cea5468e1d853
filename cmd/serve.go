package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	gossh "golang.org/x/crypto/ssh"

	"github.com/rmmhq/rmm/config"
	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/alerting"
	"github.com/rmmhq/rmm/engine/bench"
	"github.com/rmmhq/rmm/engine/winrmsim"
	"github.com/rmmhq/rmm/themes"
	"github.com/rmmhq/rmm/ui"
	"github.com/rmmhq/rmm/ui/sshserve"
)

// serveShutdownTimeout bounds how long stopping waits for sessions to end
// and connections to close.
const serveShutdownTimeout = 10 * time.Second

// serveFlags are rmm serve's flags.
type serveFlags struct {
	addr     string
	theme    string
	interval time.Duration
	demo     bool
	devices  int
	seed     int64
	offline  float64
}

func (a *app) serveCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --ssh ADDR",
		Short: "Serve the console to many users over SSH (jump-host mode)",
		Long: strings.TrimSpace(`
rmm serve runs the console as an SSH server, for a jump host: each user logs
in with an SSH key and gets a console of their own, all over one engine (one
poller, one database, one WinRM session pool), so everyone sees the same live
fleet. Every request of a session carries its user, role and client address
to the engine, which checks the role and writes the audit log; logins and
logouts are audited too (session.open, session.close).

Logins: public keys only (no passwords). The login name must be the user the
key is listed under in the config; unknown keys are refused and logged with
their fingerprint. Edits to users: take effect at the next login, without a
restart. --read-only makes every session a Viewer.

Exports: in an SSH session, :export and :export-results take a file name
and write it into the user's own directory, ssh.exports_dir/USER (mode
0700, files 0600, audited); the user fetches it read-only with
scp -O -P PORT USER@HOST:NAME . through this server.

The host key is generated on first start (ssh.host_key, mode 0600) and kept;
its fingerprint is printed so users can check it on their first connection.
rmm serve listens on loopback by default: listening elsewhere (for example
--ssh 0.0.0.0:2222) is an explicit choice, and warned about. Sessions without
input for ssh.idle_timeout are closed; at most ssh.max_sessions run at once.
SIGINT or SIGTERM ends every session with a message, then stops.

Example config (~/.config/rmm/config.yaml):

  ssh:
    listen: 127.0.0.1:2222      # --ssh overrides
    idle_timeout: 30m
    max_sessions: 10
  users:
    - name: alice
      role: admin                # admin, operator or viewer
      keys:
        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... alice@laptop
    - name: bob
      role: viewer
      keys:
        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... bob@desk

WinRM credentials are the console's: the credentials store, or
RMM_WINRM_USER and RMM_WINRM_PASSWORD.`),
		Example: `  rmm serve                        # on ssh.listen (default 127.0.0.1:2222)
  rmm serve --ssh 0.0.0.0:2222     # reachable from other hosts (warned)
  rmm serve --demo                 # a simulated fleet, to try it
  ssh -p 2222 alice@jumphost       # then, from a user's machine`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runServe(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "ssh", "", "address to listen on, HOST:PORT (default ssh.listen, 127.0.0.1:2222)")
	fl.StringVar(&f.theme, "theme", "", "console theme for every session: default, light, high-contrast, ascii (default ui.theme, or chosen from each client's locale)")
	fl.DurationVar(&f.interval, "interval", 0, "time between sweeps (default engine.poll_interval; 15s with --demo)")
	fl.BoolVar(&f.demo, "demo", false, "start a simulated fleet on loopback and serve the console on it (temporary DB unless --db)")
	fl.IntVar(&f.devices, "devices", 200, "with --demo: number of simulated hosts")
	fl.Int64Var(&f.seed, "seed", 0, "with --demo: simulator seed (0: a new fleet each run)")
	fl.Float64Var(&f.offline, "offline", 0.05, "with --demo: share of simulated hosts that are offline")
	return cmd
}

// runServe serves the console over SSH until ctx ends (SIGINT, SIGTERM),
// the listener fails or the engine hits a Fatal error.
func (a *app) runServe(ctx context.Context, f serveFlags) error {
	addr := f.addr
	if addr == "" {
		addr = a.cfg.SSH.Listen
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return exitError{2, fmt.Errorf("--ssh %q is not HOST:PORT", addr)}
	}
	themeName := f.theme
	if themeName == "" {
		themeName = a.cfg.UI.Theme // "": each session picks from its client's locale
	}
	if themeName != "" {
		if _, err := themes.Get(themeName); err != nil {
			return exitError{2, fmt.Errorf("--theme: %w", err)}
		}
	}
	if f.interval != 0 && f.interval < time.Second {
		return exitError{2, fmt.Errorf("--interval %s is below the minimum 1s", f.interval)}
	}
	users, err := sshUsers(a.cfg.Users, a.readOnly)
	if err != nil {
		return exitError{2, fmt.Errorf("%s: %w", a.configFile(), err)}
	}
	if !anyKeys(users) {
		return exitError{2, fmt.Errorf("no SSH users: add users: [{name, role, keys}] to %s (see rmm serve --help)", a.configFile())}
	}
	var current atomic.Pointer[[]sshserve.User] // replaced by config reloads
	current.Store(&users)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	src, err := a.openFleetSource(ctx, f.demo, f.devices, f.seed, f.offline, f.interval, a.stderr)
	if err != nil {
		return err
	}
	defer src.close()
	a.overrideInterval(src.interval)

	db, eng, err := a.openEngine(ctx, src.cred, src.vault, src.interval)
	if err != nil {
		return err
	}
	defer db.Close()
	rt := a.newFleetRuntime(eng, src.haveCred)
	if f.demo {
		rt.collectAtStart = []string{engine.InventorySoftware, engine.InventorySecurity}
		rt.runAtStart = []string{"patch_scan"}
	}
	started := false // once started, rt.stop closes the engine
	defer func() {
		if !started {
			_ = eng.Close()
		}
	}()

	hint := "No devices yet. An operator can import some: rmm import devices.csv"
	if !src.haveCred {
		hint += "\nPolling is off: " + src.pollOff.Error()
	}
	// Polling off is said once to the admin (an alert, the console's
	// banner) and refused; polling on resolves an earlier such alert.
	if err := eng.SetPollingOff(ctx, src.pollOff); err != nil {
		a.log.Warn("polling-off alert not written", "err", err)
	}
	srv, err := sshserve.New(sshserve.Config{
		Addr:        addr,
		HostKeyPath: a.cfg.SSH.HostKey,
		IdleTimeout: a.cfg.SSH.IdleTimeout,
		MaxSessions: a.cfg.SSH.MaxSessions,
		Users:       func() []sshserve.User { return *current.Load() },
		Engine:      eng,
		ExportsDir:  a.cfg.SSH.ExportsDir,
		ConsoleOptions: func(engine.Identity) ui.Options {
			c := a.current()
			return ui.Options{Theme: themeName, Title: src.title, EmptyHint: hint,
				ReportLocation: scheduleLocation(c), SLATarget: c.Reports.SLATarget}
		},
		Logger: a.log,
	})
	if err != nil {
		return err
	}
	ln, err := srv.Listen()
	if err != nil {
		return err
	}
	if !sshserve.IsLoopback(ln.Addr()) {
		fmt.Fprintf(a.stderr, "rmm: warning: listening on %s, beyond loopback: other hosts can reach this console\n", ln.Addr())
	}
	port := ln.Addr().(*net.TCPAddr).Port
	fmt.Fprintf(a.stdout, "rmm: serving the console over SSH on %s\n", ln.Addr())
	fmt.Fprintf(a.stdout, "host key: %s\n", srv.HostKeyFingerprint())
	fmt.Fprintf(a.stdout, "connect:  ssh -p %d USER@HOST    (stop: Ctrl+C)\n", port)

	// Beside the sessions: the engine's sweeps (a Fatal error stops
	// serving), credential rotation reminders (Info alerts), the daily
	// cleanup and weekly maintenance, as in the console; and a valid edit
	// of users: applies at the next login.
	rt.onReload = func(n reloadNotice) {
		if n.Err {
			return
		}
		us, err := sshUsers(n.Cfg.Users, a.readOnly)
		if err != nil {
			a.log.Warn("ssh users not reloaded; the running list stays", "err", err)
			return
		}
		current.Store(&us)
		a.log.Info("ssh users reloaded", "users", len(us))
	}
	if err := rt.start(ctx, db); err != nil {
		return err
	}
	started = true
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	var stopErr error
	served := false
	select {
	case <-ctx.Done():
		fmt.Fprintln(a.stdout, "rmm: stopping: ending sessions")
	case stopErr = <-serveErr:
		served = true
	case <-rt.done():
		stopErr = rt.err()
	}

	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), serveShutdownTimeout)
	shutErr := srv.Shutdown(sctx)
	scancel()
	if !served {
		if err := <-serveErr; !errors.Is(err, sshserve.ErrServerClosed) && stopErr == nil {
			stopErr = err
		}
	}
	runErr, closeErr := rt.stop()
	if stopErr == nil {
		stopErr = runErr
	}
	return errors.Join(stopErr, shutErr, closeErr)
}

// fleetSource is what a console (local or over SSH) polls: the demo fleet
// with its built-in credential, or the imported devices with the stored
// one. close releases the demo fleet or the vault.
type fleetSource struct {
	cred     engine.Credential
	vault    creds.Store
	haveCred bool  // false: no credential, polling is off
	pollOff  error // why polling is off, cause and fix; nil when haveCred
	interval time.Duration
	title    string
	demo     bool
	close    func()

	// The demo's: what rmm says about the file descriptor limit (""
	// when the fleet fits) and the simulator child.
	notice       string
	noticeDetail string // the notice with its reasons, for stderr
	sim          *bench.ChildFleet
}

// titleFor is the console's title for org: the org, and that it is the
// demo.
func (s fleetSource) titleFor(org string) string {
	if s.demo {
		return org + " (demo: simulated fleet)"
	}
	return org
}

// openFleetSource starts the demo fleet (demo) or reads the polling
// credential. interval overrides engine.poll_interval when non-zero (the
// demo polls every 15s otherwise). When no credential is found, polling
// is off: that is logged, and said on announce when it is not nil.
func (a *app) openFleetSource(ctx context.Context, demo bool, devices int, seed int64, offline float64, interval time.Duration, announce io.Writer) (fleetSource, error) {
	src := fleetSource{haveCred: true, interval: a.cfg.Engine.PollInterval, title: a.cfg.Org, close: func() {}}
	if interval != 0 {
		src.interval = interval
	}
	if demo {
		d, err := a.startDemo(ctx, devices, seed, offline, announce)
		if err != nil {
			return fleetSource{}, err
		}
		src.close, src.notice, src.noticeDetail, src.sim = d.stop, d.notice, d.detail, d.sim
		a.maxIdleConns = d.keep
		if interval == 0 {
			src.interval = 15 * time.Second
		}
		src.cred = engine.Credential{User: winrmsim.DefaultUser, Password: winrmsim.DefaultPassword}
		src.demo = true
		src.title = src.titleFor(a.cfg.Org)
		return src, nil
	}
	var err error
	src.cred, src.vault, err = a.pollCredentialsWith(true)
	if err != nil {
		src.haveCred = false
		src.pollOff = errors.Unwrap(err) // the exitError's cause: the message, cause first
		if src.pollOff == nil {
			src.pollOff = err
		}
		a.log.Warn("polling is off", "err", err)
		if announce != nil {
			fmt.Fprintf(announce, "rmm: polling is off: %v\n", err)
		}
	}
	if src.vault != nil {
		v := src.vault
		src.close = func() { _ = v.Close() }
	}
	return src, nil
}

// sshUsers turns the config's users into the SSH server's, parsing their
// keys (authorized_keys format). readOnly makes every user a Viewer.
func sshUsers(us []config.User, readOnly bool) ([]sshserve.User, error) {
	out := make([]sshserve.User, 0, len(us))
	for _, u := range us {
		role, err := engine.ParseRole(u.Role)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", u.Name, err)
		}
		if readOnly {
			role = engine.RoleViewer
		}
		su := sshserve.User{Name: u.Name, Role: role}
		for i, k := range u.Keys {
			pk, _, _, _, err := gossh.ParseAuthorizedKey([]byte(k))
			if err != nil {
				return nil, fmt.Errorf("user %s: key %d: %w", u.Name, i+1, err)
			}
			su.Keys = append(su.Keys, pk)
		}
		out = append(out, su)
	}
	return out, nil
}

func anyKeys(us []sshserve.User) bool {
	for _, u := range us {
		if len(u.Keys) > 0 {
			return true
		}
	}
	return false
}

// demoPatches gives --demo a patch policy when the config has none: the
// lab site is the pilot ring, production follows it (90% of the pilot's
// installs of an update succeeded, 10 minutes' soak), Defender's
// definitions are approved by a rule, and the lab's hosts get a
// maintenance window that opens two minutes after the demo starts (for
// two hours), so a restart after an install first waits for it. Install
// jobs are read every 3 seconds.
func (a *app) demoPatches(labHosts []string, now time.Time) {
	if len(a.cfg.Patches.Rings) > 0 || len(a.cfg.Patches.Rules) > 0 {
		return // the config's own policy
	}
	zero := 0
	o := a.patchOpts
	o.PollInterval = 3 * time.Second
	o.Rings = []engine.PatchRing{{Name: "pilot", Devices: "site:lab"},
		{Name: "production", After: "pilot", SuccessRate: 90, Soak: 10 * time.Minute}}
	o.Rules = []engine.PatchRule{{Name: "definitions", Classifications: []string{"Definition Updates"}, DeferralDays: &zero}}
	if err := engine.CheckPatchOptions(o); err != nil {
		a.log.Warn("demo patch policy not applied", "err", err)
		return
	}
	a.patchOpts = o
	start := now.Add(2 * time.Minute).Truncate(time.Minute)
	for _, h := range labHosts {
		a.alertOpts.Maintenance = append(a.alertOpts.Maintenance, alerting.MaintenanceWindow{Name: "demo: lab patch window",
			Device: h, Start: start, End: start.Add(2 * time.Hour)})
	}
	a.log.Info("demo patch policy", "pilot", "site:lab", "window_opens", start.Format(time.RFC3339))
}
