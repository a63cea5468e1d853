package cmd

import (
	"context"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// fleetRuntime is what runs beside a console, local (rmm) or over SSH
// (rmm serve), on one engine: the scheduler's jobs (cleanup, maintenance,
// inventory, security, patch_scan, rollups, scheduled reports), the
// credential rotation watch, the notifier (alert changes out to the
// channels), the engine's sweeps and its patch job driver, and the config
// watch that applies edits of the config file.
// It owns the goroutines it starts: start starts them, stop ends them in
// order and waits for each before it closes the engine.
type fleetRuntime struct {
	a     *app
	eng   *engine.Engine
	poll  bool                    // false: no credential, the engine does not sweep
	creds *engine.CredentialWatch // rotation reminders; the local console also shows them

	// Set before start, both optional. onReload is told of every config
	// reload, accepted or not, on the config watch's goroutine. onFatal is
	// called, on the sweeps' goroutine, when the engine stops on a Fatal
	// error.
	onReload func(reloadNotice)
	onFatal  func()
	// collectAtStart, when set, are inventory categories collected from
	// every device once the engine starts (--demo: so collections and
	// inventory queries have facts at once, not at the nightly schedule).
	collectAtStart []string
	// runAtStart are scheduled jobs run once as soon as the scheduler
	// starts (--demo scans for updates at once, not at 03:00).
	runAtStart []string

	cancel     context.CancelFunc // ends the scheduler, the watch and the sweeps
	stopWatch  context.CancelFunc // ends the config watch, first
	waitWatch  func()
	schedDone  chan struct{}
	credDone   chan struct{}
	notifyDone chan struct{} // the notifier's passes (notifications out)
	factsDone  chan struct{} // the inventory index load (and collectAtStart)
	runDone    chan struct{} // closed when the sweeps end; nil without poll
	runErr     error         // Engine.Run's result, set before runDone closes
}

// newFleetRuntime prepares the tasks around eng; poll is false when there
// is no credential (the engine then does not sweep). The credential watch
// is built now, from the config in effect, so a console can show its
// reminders before start.
func (a *app) newFleetRuntime(eng *engine.Engine, poll bool) *fleetRuntime {
	return &fleetRuntime{a: a, eng: eng, poll: poll,
		creds: engine.NewCredentialWatch(eng, a.cfg.Security.CredentialMaxAge)}
}

// start attaches the scheduler to the engine and starts the tasks. When it
// fails, nothing was started and the engine is the caller's to close.
// A config watch that cannot start is logged: hot reload is then off,
// the rest runs.
func (r *fleetRuntime) start(ctx context.Context, db *store.DB) error {
	a := r.a
	sched, err := a.scheduler(r.eng, db)
	if err != nil {
		return err
	}
	r.eng.AttachScheduler(sched)
	ctx, r.cancel = context.WithCancel(ctx)

	r.schedDone = make(chan struct{})
	go func() {
		defer close(r.schedDone)
		if err := sched.Run(ctx); err != nil {
			a.log.Error("scheduler stopped", "err", err)
		}
	}()
	for _, name := range r.runAtStart {
		if err := sched.RunNow(name); err != nil {
			a.log.Warn("job not run at start", "job", name, "err", err)
		}
	}

	r.credDone = make(chan struct{})
	go func() {
		defer close(r.credDone)
		r.creds.Run(ctx)
	}()

	r.notifyDone = make(chan struct{})
	go func() {
		defer close(r.notifyDone)
		_ = r.eng.RunNotifier(ctx)
	}()

	// The inventory index (collections, inventory terms in filters) loads
	// beside the console rather than before its first frame.
	r.factsDone = make(chan struct{})
	go func() {
		defer close(r.factsDone)
		if err := r.eng.LoadFacts(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("inventory index not loaded; collections read no inventory until it is", "err", err)
		}
		if len(r.collectAtStart) > 0 && r.poll && ctx.Err() == nil {
			if _, err := r.eng.Do(ctx, engine.SystemIdentity(), engine.CollectFleetInventory{Categories: r.collectAtStart}); err != nil && ctx.Err() == nil {
				a.log.Warn("inventory at start", "err", err)
			}
		}
	}()

	// Run returns nil only when ctx ends, or the Fatal error that stopped
	// it.
	if r.poll {
		// Install jobs move on while the console runs (the engine's
		// Close stops the driver).
		r.eng.StartPatchDriver()
		r.runDone = make(chan struct{})
		go func() {
			defer close(r.runDone)
			r.runErr = r.eng.Run(ctx)
			if r.runErr != nil && r.onFatal != nil {
				r.onFatal()
			}
		}()
	}

	wctx, wcancel := context.WithCancel(ctx)
	r.stopWatch = wcancel
	notify := r.onReload
	if notify == nil {
		notify = func(reloadNotice) {}
	}
	var werr error
	r.waitWatch, werr = a.watchConfig(wctx, r.eng, notify)
	if werr != nil {
		a.log.Warn("config hot reload is off", "err", werr)
	}
	return nil
}

// done is closed when the engine stops sweeping before stop: on a Fatal
// error (err says which) or when start's ctx ends. Without a credential it
// is nil, and a select on it never fires.
func (r *fleetRuntime) done() <-chan struct{} { return r.runDone }

// err is the error that ended the sweeps, once done is closed.
func (r *fleetRuntime) err() error { return r.runErr }

// stop ends the tasks in order: the config watch first (a reload goes
// through the engine), then the scheduler, the credential watch and the
// sweeps, and waits for each; then it closes the engine. runErr is the
// error that stopped the sweeps (nil when they ended with stop), closeErr
// the engine's Close.
func (r *fleetRuntime) stop() (runErr, closeErr error) {
	r.stopWatch()
	r.waitWatch()
	r.cancel()
	<-r.credDone
	<-r.notifyDone
	<-r.factsDone
	<-r.schedDone
	if r.runDone != nil {
		<-r.runDone
	}
	return r.runErr, r.eng.Close()
}
