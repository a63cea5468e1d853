// Package cmd is rmm's command line: the cobra commands and their wiring
// (config to engine options, config reloads, identity, logging, the tasks
// beside a console). Commands map flags and the config onto the engine,
// the store, the credentials store or the console and print what they
// answer; the decisions (RBAC, audit, polling, alerts) stay in the engine.
// The root package's main only calls Execute.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/rmmhq/rmm/config"
	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// version is set at build time with
// -ldflags "-X github.com/rmmhq/rmm/cmd.version=...".
var version = "dev"

// app is what every command shares: flags, the effective config, the log.
type app struct {
	demoDomain   bool // --demo with joined hosts: Kerberos stays on the machine (transportOptions)
	configPath   string
	dbPath       string
	logLevel     string
	readOnly     bool
	identityFile string

	dirs      config.Dirs
	cfgMu     sync.RWMutex        // guards cfg once goroutines run (config reloads)
	cfg       config.Config       // in effect: the file's, with flags and --demo on top
	fileCfg   config.Config       // as the config file says; what reloads are compared with
	alertOpts engine.AlertOptions // thresholds, alerts, health, maintenance windows from cfg
	patchOpts engine.PatchOptions // the patches section of cfg
	log       *slog.Logger
	level     slog.LevelVar // changed live by a config reload
	logOut    io.Closer
	// maxIdleConns bounds the connections the engine keeps between
	// sweeps (0: the engine's own budget); the demo sets it when the
	// file descriptor limit does not fit every simulated host's.
	maxIdleConns int
	// intervalOverride is the sweep interval --interval or --demo set for
	// this run (0: engine.poll_interval); it stays on top of reloads.
	intervalOverride time.Duration

	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader
	getenv func(string) string
	// keyringCheck replaces creds.KeyringAvailable when set: the CLI's
	// tests set it so no test probes or writes the machine's keyring.
	keyringCheck func() error

	// releaseNotify closes the credentials stores opened for notification
	// secrets (setupNotify); run by Execute at the end.
	releaseNotify []func()

	credsMu     sync.Mutex
	credsShared creds.Store // the credentials store this command opened last, for the audit key (auditkeys.go)
}

// Execute runs the rmm command line args (without the program name) and
// returns the process exit code: 0 ok, 1 error, 2 bad input, 3 permission
// denied, and the codes a command documents (4 audit chain broken, 5 doctor
// found a failing step). Errors are printed to stderr as "rmm: ...".
// ctx ends a long-running command (the console, rmm serve, rmm poll, rmm
// sim): cancel it on SIGINT and SIGTERM. getenv is the environment
// (os.Getenv), injected so tests run with their own.
func Execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return (&app{stdout: stdout, stderr: stderr, stdin: stdin, getenv: getenv}).execute(ctx, args)
}

// execute runs args with a's streams and environment; see Execute.
func (a *app) execute(ctx context.Context, args []string) int {
	stderr := a.stderr
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	for _, release := range a.releaseNotify {
		release()
	}
	if a.logOut != nil {
		_ = a.logOut.Close()
	}
	if err != nil {
		fmt.Fprintf(stderr, "rmm: %v\n", err)
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		if errors.Is(err, engine.ErrDenied) {
			return 3
		}
		if errors.Is(err, engine.ErrBadInput) {
			return 2
		}
		return 1
	}
	return 0
}

// exitError carries a specific exit code: 2 bad input, 3 permission denied.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// setup loads the config and opens the log; every command runs it first.
func (a *app) setup(cmd *cobra.Command) error {
	dirs, err := config.DefaultDirs(a.getenv)
	if err != nil {
		return fmt.Errorf("locate directories: %w", err)
	}
	a.dirs = dirs
	path, explicit := a.configPath, a.configPath != ""
	if !explicit {
		path = filepath.Join(dirs.Config, "config.yaml")
	}
	cfg, err := config.Load(path, dirs, !explicit)
	if err != nil {
		return exitError{2, err}
	}
	a.fileCfg = cfg
	if a.dbPath != "" {
		p, err := filepath.Abs(a.dbPath)
		if err != nil {
			return fmt.Errorf("--db %s: %w", a.dbPath, err)
		}
		cfg.Store.DB = p
	}
	if a.logLevel != "" {
		switch a.logLevel {
		case "debug", "info", "warn", "error":
			cfg.Log.Level = a.logLevel
		default:
			return exitError{2, fmt.Errorf("--log-level %q is not one of debug, info, warn, error", a.logLevel)}
		}
	}
	if demoRun(cmd) {
		// The demo's log lines never mix with the real fleet's (rmm logs
		// --device would show simulated hosts' lines otherwise).
		cfg.Log.File = demoLogFile(cfg.Log.File)
	}
	a.cfg = cfg
	if a.alertOpts, err = alertOptions(cfg, a.configFile()); err != nil {
		return err
	}
	if a.patchOpts, err = patchOptions(cfg, a.configFile()); err != nil {
		return err
	}
	return a.openLog()
}

// openLog writes the log to the configured file with size-based rotation.
// The console owns the terminal, so logs never go to stdout or stderr.
func (a *app) openLog() error {
	if err := os.MkdirAll(filepath.Dir(a.cfg.Log.File), 0o700); err != nil {
		return fmt.Errorf("log directory: %w", err)
	}
	lj := &lumberjack.Logger{Filename: a.cfg.Log.File, MaxSize: a.cfg.Log.MaxSizeMB, MaxBackups: a.cfg.Log.MaxBackups, Compress: true}
	a.logOut = lj
	var level slog.Level
	_ = level.UnmarshalText([]byte(a.cfg.Log.Level))
	a.level.Set(level)
	opts := &slog.HandlerOptions{Level: &a.level}
	out := asciiWriter{lj}
	var h slog.Handler = slog.NewTextHandler(out, opts)
	if a.cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(out, opts)
	}
	a.log = slog.New(h)
	return nil
}

// overrideInterval makes interval (from --interval or --demo) the sweep
// interval in effect: what the settings view shows, and what a config
// reload keeps.
func (a *app) overrideInterval(interval time.Duration) {
	if interval == 0 || interval == a.cfg.Engine.PollInterval {
		return
	}
	a.intervalOverride = interval
	a.cfg.Engine.PollInterval = interval
}

// openEngine opens the store and an engine over it with the given
// credentials (vault may be nil; interval 0 keeps engine.poll_interval).
// The caller closes both: the engine first, then the store.
func (a *app) openEngine(ctx context.Context, cred engine.Credential, vault creds.Store, interval time.Duration) (*store.DB, *engine.Engine, error) {
	db, err := a.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	// An engine polls and writes: a database it cannot write is found
	// now, before any WinRM traffic, not at the first commit after a
	// sweep.
	if err := db.CheckWritable(ctx); err != nil {
		db.Close()
		return nil, nil, err
	}
	a.setMemoryLimit()
	opts := a.engineOptions(cred)
	opts.Credentials = vault
	if interval != 0 {
		opts.Interval = interval
	}
	eng, err := engine.New(ctx, db, opts)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if err := eng.SetTransportOptions(a.transportOptions()); err != nil {
		eng.Close()
		db.Close()
		return nil, nil, exitError{2, fmt.Errorf("%s: %w", a.configFile(), err)}
	}
	release, err := a.setupNotify(eng, vault)
	if err != nil {
		eng.Close()
		db.Close()
		return nil, nil, err
	}
	a.releaseNotify = append(a.releaseNotify, release)
	eng.SetConfigCollections(a.cfg.Collections)
	return db, eng, nil
}

// openStore opens (and migrates) the configured database, with the audit
// chain's key store and anchor (auditkeys.go).
func (a *app) openStore(ctx context.Context) (*store.DB, error) {
	db, err := store.OpenWith(ctx, a.cfg.Store.DB, a.auditOptions())
	if err != nil {
		return nil, err
	}
	return db, nil
}

// setMemoryLimit applies engine.memory_limit_mb to this process (see
// engine.SetMemoryLimit) unless GOGC or GOMEMLIMIT is set.
func (a *app) setMemoryLimit() {
	if a.getenv("GOGC") != "" || a.getenv("GOMEMLIMIT") != "" {
		return
	}
	engine.SetMemoryLimit(a.cfg.Engine.MemoryLimitMB)
}

// engineOptions maps the config onto the engine's options.
func (a *app) engineOptions(cred engine.Credential) engine.Options {
	retries := a.cfg.WinRM.Retries
	if retries == 0 {
		retries = -1 // the engine's zero means "default"; config 0 means none
	}
	return engine.Options{
		Throttle:   a.cfg.Engine.Throttle,
		Interval:   a.cfg.Engine.PollInterval,
		Timeout:    a.cfg.WinRM.Timeout,
		Retries:    retries,
		Credential: cred,
		Writer:     store.WriterOptions{BatchRows: a.cfg.Store.BatchRows, FlushInterval: a.cfg.Store.FlushInterval},
		Logger:     a.log,
		// The session pool (sessions: in the config).
		SessionTTL:       a.cfg.Sessions.TTL,
		SessionsPerHost:  a.cfg.Sessions.PerHost,
		ShellMaxCommands: a.cfg.Sessions.MaxCommands,
		LoopOff:          a.cfg.Sessions.LoopOff,
		Alerts:           a.alertOpts,
		Actions:          a.actionOptions(),
		Patches:          a.patchOpts,
		ExportsDir:       a.cfg.SSH.ExportsDir,
		MaxIdleConns:     a.maxIdleConns,
	}
}

// transportOptions maps the winrm: transport keys onto the engine's.
func (a *app) transportOptions() winrm.TransportOptions {
	w := a.cfg.WinRM
	kdcs, _ := config.ParseKDCs(w.KerberosKDC)            // checked when the config was read
	realms, _ := config.ParseRealmMap(w.KerberosRealmMap) // checked too
	if a.demoDomain {
		// The demo's domain is simulated: no real KDC serves its realm,
		// and no Kerberos query leaves the machine (its joined hosts are
		// reached with Negotiate, which uses NTLM then).
		return winrm.TransportOptions{CABundle: w.CABundle, Kerberos: winrm.KerberosOptions{NoKrb5Conf: true}}
	}
	return winrm.TransportOptions{CABundle: w.CABundle,
		Kerberos: winrm.KerberosOptions{Realm: w.KerberosRealm, Krb5Conf: w.Krb5Conf, CCache: w.KerberosCCache, KDCs: kdcs, RealmMap: realms}}
}

// envCredential reads the WinRM credential from the environment
// (RMM_WINRM_USER, RMM_WINRM_PASSWORD); empty when unset.
func (a *app) envCredential() engine.Credential {
	return engine.Credential{User: a.getenv("RMM_WINRM_USER"), Password: a.getenv("RMM_WINRM_PASSWORD")}
}

// errNoCredential is returned (wrapped) when neither the credentials store
// nor the environment has a WinRM credential.
var errNoCredential = errors.New("no WinRM credential")

// pollCredentials gives the engine its credentials: the credentials store
// when it opens without a prompt (keyring, or the vault with --identity or
// RMM_VAULT_PASSPHRASE), and the environment's credential as the fallback
// for devices without a stored one. Neither is an error. The error says
// the cause first: a locked vault, a wrong passphrase, nothing stored.
func (a *app) pollCredentials() (engine.Credential, creds.Store, error) {
	return a.pollCredentialsWith(false)
}

// pollCredentialsWith is pollCredentials; with prompt, a locked vault is
// asked for its passphrase on the terminal first (the console).
func (a *app) pollCredentialsWith(prompt bool) (engine.Credential, creds.Store, error) {
	env := a.envCredential()
	if (env.User == "") != (env.Password == "") {
		return env, nil, exitError{2, errors.New("set both RMM_WINRM_USER and RMM_WINRM_PASSWORD, or neither")}
	}
	store, err := a.openCreds(false)
	if err != nil && prompt && env.User == "" {
		store, err = a.unlockForConsole(err)
	}
	if err != nil {
		if env.User == "" {
			return env, nil, exitError{2, a.explainCredsError(err)}
		}
		a.log.Info("credentials store not opened; using RMM_WINRM_USER for every device", "reason", err.Error())
		return env, nil, nil
	}
	return env, store, nil
}

func (a *app) rootCommand() *cobra.Command {
	var c consoleFlags
	root := &cobra.Command{
		Use:   "rmm",
		Short: "Monitor and manage Windows fleets over WinRM, from a terminal",
		Long: strings.TrimSpace(`
rmm is a terminal console for remote monitoring and management of Windows
machines over WinRM. Run without a command it opens the full-screen console
on the configured database; with --demo it starts a simulated fleet on
loopback first, so everything works without Windows machines.

Files (XDG locations, each overridable):
  config   ~/.config/rmm/config.yaml           (--config)
  data     ~/.local/share/rmm/rmm.db           (--db, store.db)
  archive  ~/.local/share/rmm/archive/         (store.archive_dir)
  vault    ~/.local/share/rmm/vault.age        (security.vault_file)
  logs     ~/.local/state/rmm/logs/rmm.log     (log.file)

WinRM credentials: rmm creds set (OS keyring, or the encrypted vault);
RMM_WINRM_USER and RMM_WINRM_PASSWORD are the fallback.
Exit status: 0 ok, 1 error, 2 bad input, 3 permission denied, 5 doctor found a failing step,
4 audit chain broken (rmm audit verify).`),
		Example: `  rmm --demo                      # a simulated fleet of 200 hosts
  rmm import devices.csv          # add devices
  rmm poll --once --json          # one headless sweep
  rmm                             # the console on your devices`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.setup(cmd); err != nil {
				return err
			}
			return a.checkListed(cmd)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runConsole(cmd.Context(), c)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "config file (default ~/.config/rmm/config.yaml)")
	pf.StringVar(&a.dbPath, "db", "", "database file (default store.db from the config)")
	pf.StringVar(&a.logLevel, "log-level", "", "log level: debug, info, warn, error (default log.level)")
	pf.StringVar(&a.identityFile, "identity", "", "age identity file that unlocks the credentials vault (instead of RMM_VAULT_PASSPHRASE)")
	pf.BoolVar(&a.readOnly, "read-only", false, "viewer mode: every change is refused (and audited), whatever your role")
	c.register(root)
	root.AddCommand(
		a.importCommand(),
		a.devicesCommand(),
		a.pollCommand(),
		a.simCommand(),
		a.configCommand(),
		a.logsCommand(),
		a.auditCommand(),
		a.dbCommand(),
		a.credsCommand(),
		a.doctorCommand(),
		a.benchCommand(),
		a.serveCommand(),
		a.alertsCommand(),
		a.healthCommand(),
		a.inventoryCommand(),
		a.actionCommand(),
		a.runCommand(),
		a.collectionsCommand(),
		a.queueCommand(),
		a.scriptsCommand(),
		a.notifyCommand(),
		a.reportCommand(),
		a.patchCommand(),
		a.versionCommand(),
	)
	usageErrors(root)
	return root
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the rmm version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.stdout, "rmm %s\n", version)
			return nil
		},
	}
}
