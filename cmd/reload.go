package cmd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/rmmhq/rmm/config"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/engine/notify"
)

// configPath is the file the running process reads (and watches).
func (a *app) configFile() string {
	if a.configPath != "" {
		return a.configPath
	}
	return filepath.Join(a.dirs.Config, "config.yaml")
}

// reloadNotice is what a reload means for the person at the console.
type reloadNotice struct {
	Text string
	Err  bool
	Cfg  config.Config
}

// watchConfig applies valid edits of the config file to the running
// engine and log level, and reports each reload (or rejection) through
// notify. It stops when ctx ends; the returned func waits for that.
func (a *app) watchConfig(ctx context.Context, eng *engine.Engine, notify func(reloadNotice)) (wait func(), err error) {
	w, err := config.Watch(a.configFile(), a.dirs, a.fileCfg)
	if err != nil {
		return func() {}, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				_ = w.Close()
				return
			case r, ok := <-w.Reloads():
				if !ok {
					return
				}
				notify(a.applyReload(ctx, eng, r))
			}
		}
	}()
	return func() { <-done }, nil
}

// applyReload applies one reload through the engine (so it is audited
// with what changed) and says what happened, in one line. It runs on the
// watchConfig goroutine, so it reads the config in effect through
// current(), and replaces it (setConfig) only once the reload is accepted:
// a candidate is checked on its own, never made current to be checked.
func (a *app) applyReload(ctx context.Context, eng *engine.Engine, r config.Reload) reloadNotice {
	file := a.configFile()
	running := a.current()
	if r.Err != nil {
		msg := r.Err.Error()
		if errors.Is(r.Err, os.ErrNotExist) {
			msg = "config file missing; keeping the running config"
		}
		_, _ = engine.Call(ctx, eng, engine.SystemIdentity(), engine.ReloadConfig{File: file, Rejected: errors.New(msg)})
		a.log.Warn("config reload rejected; running config kept", "file", file, "err", msg)
		return reloadNotice{Text: "config rejected, running config kept: " + firstLine(msg), Err: true, Cfg: running}
	}
	parts := make([]string, len(r.Changes))
	for i, c := range r.Changes {
		parts[i] = c.String()
	}
	cfg := r.Config
	if a.intervalOverride != 0 {
		cfg.Engine.PollInterval = a.intervalOverride // --interval or --demo stays on top of the file
	}
	alerts, err := alertOptions(cfg, file)
	var nopts notify.Options
	if err == nil {
		nopts, err = notifyOptions(cfg, file)
	}
	if err != nil {
		_, _ = engine.Call(ctx, eng, engine.SystemIdentity(), engine.ReloadConfig{File: file, Rejected: err})
		return reloadNotice{Text: "config rejected, running config kept: " + firstLine(err.Error()), Err: true, Cfg: running}
	}
	patches, err := patchOptions(cfg, file)
	if err != nil {
		_, _ = engine.Call(ctx, eng, engine.SystemIdentity(), engine.ReloadConfig{File: file, Rejected: err})
		return reloadNotice{Text: "config rejected, running config kept: " + firstLine(err.Error()), Err: true, Cfg: running}
	}
	_, err = engine.Call(ctx, eng, engine.SystemIdentity(), engine.ReloadConfig{
		File: file, Changes: parts, Alerts: &alerts, Notify: &nopts, Patches: &patches,
		Throttle: cfg.Engine.Throttle, Interval: cfg.Engine.PollInterval, Timeout: cfg.WinRM.Timeout, Retries: cfg.WinRM.Retries,
	})
	if err != nil {
		a.log.Error("config reload could not be applied", "err", err)
		return reloadNotice{Text: "config reload failed: " + err.Error(), Err: true, Cfg: running}
	}
	eng.SetConfigCollections(cfg.Collections) // audited above, with the other changes
	a.fileCfg = cfg
	// Flags and --demo stay on top of the file: the database and log file
	// in use, and a --log-level given on the command line.
	cfg.Store.DB, cfg.Log.File, cfg.Log.Format = running.Store.DB, running.Log.File, running.Log.Format
	if a.logLevel != "" {
		cfg.Log.Level = a.logLevel
	}
	var level = a.level.Level()
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err == nil {
		a.level.Set(level)
	}
	a.setConfig(cfg)
	a.alertOpts = alerts
	a.log.Info("config reloaded", "file", file, "changes", strings.Join(parts, "; "))
	return reloadNotice{Text: "config reloaded: " + strings.Join(parts, "; "), Cfg: cfg}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " (and more; rmm config check)"
	}
	return s
}

// setConfig replaces the config in effect (a config reload). Once
// goroutines run, code reads the config through current(), never a.cfg:
// the scheduler's jobs, the config watch, the background tasks.
func (a *app) setConfig(c config.Config) {
	a.cfgMu.Lock()
	a.cfg = c
	a.cfgMu.Unlock()
}

// current returns the config in effect, safe from any goroutine.
func (a *app) current() config.Config {
	a.cfgMu.RLock()
	defer a.cfgMu.RUnlock()
	return a.cfg
}
