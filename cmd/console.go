package cmd

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/config"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/themes"
	"github.com/rmmhq/rmm/ui"
)

// consoleFlags are the root command's own flags.
type consoleFlags struct {
	demo     bool
	devices  int
	seed     int64
	offline  float64
	theme    string
	interval time.Duration
}

func (c *consoleFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&c.demo, "demo", false, "start a simulated fleet on loopback and open the console on it (temporary DB unless --db)")
	f.IntVar(&c.devices, "devices", 200, "with --demo: number of simulated hosts")
	f.Int64Var(&c.seed, "seed", 0, "with --demo: simulator seed (0: a new fleet each run)")
	f.Float64Var(&c.offline, "offline", 0.05, "with --demo: share of simulated hosts that are offline")
	f.StringVar(&c.theme, "theme", "", "console theme: default, light, high-contrast, ascii (default ui.theme, or ascii when the locale is not UTF-8)")
	f.DurationVar(&c.interval, "interval", 0, "time between sweeps (default engine.poll_interval; 15s with --demo)")
}

// runConsole opens the full-screen console, on a simulated fleet with --demo.
func (a *app) runConsole(ctx context.Context, c consoleFlags) error {
	themeName := c.theme
	if themeName == "" {
		themeName = a.cfg.UI.Theme
	}
	if themeName == "" {
		themeName = themes.AutoName(a.getenv)
	}
	if _, err := themes.Get(themeName); err != nil {
		return exitError{2, fmt.Errorf("--theme: %w", err)}
	}
	if err := ui.ValidateKeys(a.cfg.UI.Keys); err != nil {
		return exitError{2, fmt.Errorf("%s: ui.keys: %w", a.configFile(), err)}
	}
	if err := ui.ValidateViews(a.cfg.UI.Views); err != nil {
		return exitError{2, fmt.Errorf("%s: ui.views: %w", a.configFile(), err)}
	}
	if c.interval != 0 && c.interval < time.Second {
		return exitError{2, fmt.Errorf("--interval %s is below the minimum 1s", c.interval)}
	}

	id, err := a.localIdentity(engine.ViaLocal)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	src, err := a.openFleetSource(ctx, c.demo, c.devices, c.seed, c.offline, c.interval, nil)
	if err != nil {
		return err
	}
	defer src.close()
	a.overrideInterval(src.interval)
	if src.noticeDetail != "" {
		// Before the screen is taken, so it stays in the terminal.
		fmt.Fprintf(a.stderr, "rmm: %s\n", src.noticeDetail)
	}

	db, eng, err := a.openEngine(ctx, src.cred, src.vault, src.interval)
	if err != nil {
		return err
	}
	defer db.Close()

	hint := "No devices yet. Import some: rmm import devices.csv   (or try: rmm --demo)"
	if !src.haveCred {
		hint += "\nPolling is off: " + src.pollOff.Error()
	}
	// Polling off is said once to the admin (an alert, the console's
	// banner) and refused; polling on resolves an earlier such alert.
	if err := eng.SetPollingOff(ctx, src.pollOff); err != nil {
		a.log.Warn("polling-off alert not written", "err", err)
	}
	// Rotation reminders (rt.creds): checked now and daily, shown in the
	// status line and raised as Info alerts.
	rt := a.newFleetRuntime(eng, src.haveCred)
	if c.demo {
		// Collections and inventory queries need facts: the demo
		// collects them now, not at the nightly schedule.
		rt.collectAtStart = []string{engine.InventorySoftware, engine.InventorySecurity}
		rt.runAtStart = []string{"patch_scan"} // the demo shows missing updates at once
	}
	model := ui.New(localClient{Engine: eng, id: id, creds: rt.creds}, ui.Options{
		Theme:      themeName,
		NoColor:    a.getenv("NO_COLOR") != "",
		Title:      src.title,
		EmptyHint:  hint,
		User:       id.User,
		Role:       id.Role.String(),
		Settings:   a.uiSettings(a.cfg),
		ConfigPath: a.configFile(),
		SavedViews: a.cfg.UI.Views,
		Keys:       a.cfg.UI.Keys,

		ReportDir:      a.cfg.Reports.Dir,
		ReportLocation: scheduleLocation(a.cfg),
		SLATarget:      a.cfg.Reports.SLATarget,
		StartNotice:    src.notice,
	})
	defer model.Close()
	prog := tea.NewProgram(model, tea.WithContext(ctx))

	// The engine runs beside the console; a Fatal error ends both.
	rt.onFatal = prog.Quit
	// A valid edit of the config file takes effect now; a bad one is
	// reported with its line and the running config stays.
	shownTheme := themeName
	rt.onReload = func(n reloadNotice) {
		prog.Send(ui.NoticeMsg{Text: n.Text, Err: n.Err})
		if n.Err {
			return
		}
		prog.Send(ui.SettingsMsg{Settings: a.uiSettings(n.Cfg)})
		prog.Send(ui.TitleMsg{Title: src.titleFor(n.Cfg.Org)}) // org: takes effect at once (newcomer B6)
		name := n.Cfg.UI.Theme
		if c.theme != "" {
			name = c.theme // the flag wins over the file
		}
		if name == "" {
			name = themes.AutoName(a.getenv)
		}
		if name != shownTheme {
			shownTheme = name
			prog.Send(ui.ThemeMsg{Name: name})
		}
	}
	if err := rt.start(ctx, db); err != nil {
		_ = eng.Close()
		return err
	}

	// A simulator child that dies (killed, out of memory) is said in the
	// console: the demo hosts then all go offline.
	watchDone := make(chan struct{})
	watchStop := make(chan struct{})
	go func() {
		defer close(watchDone)
		if src.sim == nil {
			return
		}
		select {
		case <-src.sim.Exited():
			err := src.sim.ExitError()
			a.log.Error("demo: the simulated fleet stopped", "err", err)
			prog.Send(ui.NoticeMsg{Text: fmt.Sprintf("the simulated fleet stopped: %v (its hosts now go offline; restart rmm --demo)", err), Err: true})
		case <-watchStop:
		}
	}()
	_, uiErr := prog.Run()
	close(watchStop)
	<-watchDone
	engErr, closeErr := rt.stop()
	switch {
	case engErr != nil:
		return engErr
	case uiErr != nil && !errors.Is(uiErr, tea.ErrProgramKilled) && !errors.Is(uiErr, context.Canceled):
		return fmt.Errorf("console: %w", uiErr)
	}
	return closeErr
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

// uiSettings is the effective config as the console's settings view
// shows it. Values and defaults are in the same form, so only real
// changes stand out.
func (a *app) uiSettings(c config.Config) []ui.Setting {
	out := uiSettings(c, a.dirs)
	if a.intervalOverride != 0 {
		for i := range out {
			if out[i].Key == "engine.poll_interval" {
				out[i].Doc += " (this run: --interval or --demo; the file's value applies to other runs)"
			}
		}
	}
	return out
}

func uiSettings(c config.Config, dirs config.Dirs) []ui.Setting {
	keys := config.Keys()
	defaults := config.Default(dirs)
	out := make([]ui.Setting, 0, len(keys))
	for _, k := range keys {
		def, doc, _ := config.KeyDoc(k)
		if d := defaults.Value(k); d != "" {
			def = d // the default as this host resolves it (paths expanded)
		}
		v := c.Value(k)
		if v == "" {
			v = def // "(automatic)", "(none)": what an empty value means
		}
		out = append(out, ui.Setting{Key: k, Value: v, Default: def, Doc: doc})
	}
	return out
}

// localClient is the engine as the local console uses it: every read, and
// Do bound to the local user's identity (ui.Requester), so the console's
// requests are authorized and audited as that user.
type localClient struct {
	*engine.Engine
	id    engine.Identity
	creds *engine.CredentialWatch // nil: no rotation reminder
}

// The detail view's inventory tabs read through the embedded engine.
var _ ui.InventorySource = localClient{}

// StaleCredentials implements ui.CredentialAgeSource: the credentials
// over security.credential_max_age at the last check.
func (c localClient) StaleCredentials() []string {
	if c.creds == nil {
		return nil
	}
	return c.creds.Stale()
}

// Do runs r as the local user.
func (c localClient) Do(ctx context.Context, r engine.Request) (any, error) {
	return c.Engine.Do(ctx, c.id, r)
}
