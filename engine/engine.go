// Package engine is rmm's backend: it owns the device list in memory,
// polls devices over WinRM in parallel, classes every error, writes
// results through the store's batch writer and publishes events to the
// front ends. Front ends (console, SSH, CLI) talk to the engine only; the
// engine never renders anything and never reads the terminal.
package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine/filter"
	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// Defaults and limits of Options.
const (
	DefaultThrottle = 50
	MaxThrottle     = 1000
	DefaultInterval = 5 * time.Minute
	DefaultTimeout  = 30 * time.Second
	DefaultRetries  = 3
)

// Credential is the WinRM account the engine uses: the client's type,
// named here so front ends need not import the client. The password is
// kept in memory only and never logged or formatted.
type Credential = winrm.Credential

// PoolStats are the WinRM client's counters (session pool and
// connections), named here so front ends need not import the client.
type PoolStats = winrm.Stats

// Modes a device is polled in, shown in DeviceState.Mode.
const (
	ModeWarm = winrm.ModeWarm // through the resident PowerShell loop of a pooled shell
	ModeCold = winrm.ModeCold // one powershell.exe per poll (the loop cannot start there, or the pool is off)
)

// Options configure an Engine. Zero values take the defaults.
type Options struct {
	Throttle    int           // requests in flight, 1..1000 (default 50)
	Interval    time.Duration // time between sweep starts in Run (default 5m)
	Timeout     time.Duration // deadline of one WinRM command (default 30s)
	Retries     int           // retries of a transient failure (default 3; -1 for none)
	Credential  Credential    // fixed credential (environment, --demo); the fallback when Credentials has none
	Credentials creds.Store   // the credentials store; nil: use Credential for every device
	Writer      store.WriterOptions
	Logger      *slog.Logger // default: discard

	// Session pool and resident PowerShell (engine/winrm); zero values
	// take the defaults.
	SessionTTL      time.Duration // sessions.ttl: idle shells are deleted after this (default 5m)
	SessionsPerHost int           // sessions.per_host: shells per host at most, 1..10 (default 2)
	LoopMaxRequests int           // the resident PowerShell is recycled after this many requests (default 1000)
	LoopMaxAge      time.Duration // or after running this long (default 1h)
	// ShellMaxCommands replaces a pooled shell after it ran this many
	// commands (sessions.max_commands; default 1000).
	ShellMaxCommands int
	// LoopOff lists the devices that never run the resident PowerShell
	// loop (sessions.loop_off): hostnames, tag:NAME, site:NAME, or *.
	// A device's own loop_off field (CSV column Loop) does the same.
	LoopOff  []string
	Unpooled bool          // no pool: a new shell and powershell.exe per poll (the benchmark's baseline)
	Alerts   AlertOptions  // thresholds, dedup window, offline threshold, maintenance windows, health weights
	Actions  ActionOptions // remote actions and the offline queue (actions_runner.go)
	Patches  PatchOptions  // patch management: rings, approval rules, deny list, timings (patch_policy.go)

	// MaxIdleConns bounds the HTTP connections kept open between
	// requests (one per host is what a sweep reuses); zero: what the
	// process's file descriptor limit leaves room for.
	MaxIdleConns int

	// NoDeviceList makes a one-shot engine that does not load the device
	// list (at New, or after an import): for rmm import, whose memory then
	// stays bounded however many devices the database holds. Sweeps and
	// the console's views see no devices on such an engine.
	NoDeviceList bool

	// ExportsDir holds the SSH users' exports, one directory per user
	// (ExportFile, UserExportDir); "" refuses exports over SSH.
	ExportsDir string

	// OnPoll, when set, receives every poll once it is queued to the
	// store (a site relay forwards it to central: engine/relay). It runs
	// on the poll's goroutine and must not block for long.
	OnPoll func(PollRecord)
}

func (o *Options) setDefaults() error {
	if o.Throttle == 0 {
		o.Throttle = DefaultThrottle
	}
	if o.Throttle < 1 || o.Throttle > MaxThrottle {
		return fmt.Errorf("engine throttle %d is out of range 1..%d", o.Throttle, MaxThrottle)
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Interval < time.Second {
		return fmt.Errorf("poll interval %s is below the minimum 1s", o.Interval)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Timeout < 100*time.Millisecond {
		return fmt.Errorf("winrm timeout %s is below the minimum 100ms", o.Timeout)
	}
	switch {
	case o.Retries == 0:
		o.Retries = DefaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// entry is the engine's copy of one device.
type entry struct {
	dev    store.Device
	target winrm.Target // how it is reached, derived from dev once (targetOf)
	state  DeviceState
}

// Engine polls devices and publishes their state. Create it with New,
// stop it with Close.
type Engine struct {
	db     *store.DB
	writer *store.Writer
	hub    *Hub
	winrm  *winrm.Client // every WinRM request goes through it
	log    *slog.Logger

	optsMu  sync.RWMutex
	opts    Options // read with options(); replaced by Reconfigure
	metrics *winrm.Script
	status  *Cache[int64, DeviceState] // the status cache, written through by record

	mu       sync.RWMutex
	devices  map[int64]*entry
	counts   map[Status]int
	sweeping bool
	pollOff  error // why polling is off (SetPollingOff); nil while it is on
	done     int
	lastEnd  time.Time
	lastTook time.Duration

	sweepMu sync.Mutex // one sweep at a time

	creds  credCache
	alerts *alertBook  // alerts and health inputs (alerts.go)
	shells shellBook   // interactive remote PowerShell sessions (rshell.go)
	act    *actionBook // action runs, offline queue replays (actions_runner.go)
	patch  *patchBook  // patch policy and the install job driver (patches.go, patch_jobs.go)

	sched atomic.Pointer[Scheduler] // set by AttachScheduler

	relays relaysPtr // site relays (relayed.go); nil: central polls every device

	proc            processReg     // this process in the processes table (recovery.go)
	shellRecs       *shellRecorder // records of the shells the pool opens (recovery.go)
	leftoverDeleted atomic.Int64   // shells of ended processes deleted since start
	// noFiles counts the polls of the current sweep that this process
	// could not send for want of file descriptors (logged once a sweep).
	noFiles atomic.Int64
	// credTrouble collects the credentials the current sweep could not
	// get (credtrouble.go).
	credTrouble credTrouble

	inv   inventoryState  // inventory collectors and extended-metrics state (inventory.go)
	facts factIndex       // the inventory index the filter grammar reads (facts.go)
	colls *collectionBook // saved collections and their members (collections.go)

	hosts hostBook  // devices whose address answered as another computer (hostcheck.go)
	hooks testHooks // nil in production; set by tests (export_test.go)

	notify *notifier // alert notifications: routes, outbox, sends (notifier.go)

	fatalMu sync.Mutex
	fatal   error
	fatalC  chan struct{} // closed on the first Fatal error

	reconf chan struct{} // signalled by Reconfigure, so Run re-reads the interval
}

func (e *Engine) options() Options {
	e.optsMu.RLock()
	defer e.optsMu.RUnlock()
	return e.opts
}

// Reconfigure applies new throttle, interval, timeout and retries from a
// config reload. A sweep in progress finishes with the old values; the
// next one uses the new. Credential, writer and logger are kept.
func (e *Engine) Reconfigure(throttle int, interval, timeout time.Duration, retries int) error {
	o := e.options()
	o.Throttle, o.Interval, o.Timeout, o.Retries = throttle, interval, timeout, retries
	if retries == 0 {
		o.Retries = -1 // config 0 means no retries; Options 0 means the default
	}
	if err := o.setDefaults(); err != nil {
		return fmt.Errorf("reconfigure: %w", err)
	}
	e.optsMu.Lock()
	e.opts = o
	e.optsMu.Unlock()
	select {
	case e.reconf <- struct{}{}:
	default:
	}
	e.log.Info("engine reconfigured", "throttle", o.Throttle, "interval", o.Interval, "timeout", o.Timeout, "retries", o.Retries)
	return nil
}

// New builds an engine over an open store, starts its batch writer and
// loads the devices. Close it when done.
func New(ctx context.Context, db *store.DB, opts Options) (*Engine, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s, err := scripts.Get("metrics")
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e := &Engine{
		db:      db,
		hub:     NewHub(),
		opts:    opts,
		log:     opts.Logger,
		metrics: winrm.NewScript(s.Name, s.Body),
		status:  NewCache[int64, DeviceState](DefaultStatusTTL),
		devices: make(map[int64]*entry),
		counts:  make(map[Status]int),
		fatalC:  make(chan struct{}),
		reconf:  make(chan struct{}, 1),
		notify:  newNotifier(),
		facts:   factIndex{cat: filter.NewCatalog()},
		colls:   newCollectionBook(),
	}
	e.initProcess()
	e.shellRecs = newShellRecorder(e)
	if e.winrm, err = winrm.New(winrm.Options{
		Throttle:         opts.Throttle,
		Timeout:          opts.Timeout,
		SessionTTL:       opts.SessionTTL,
		SessionsPerHost:  opts.SessionsPerHost,
		LoopMaxRequests:  opts.LoopMaxRequests,
		LoopMaxAge:       opts.LoopMaxAge,
		ShellMaxCommands: opts.ShellMaxCommands,
		Unpooled:         opts.Unpooled,
		MaxIdleConns:     opts.MaxIdleConns,
		Logger:           opts.Logger,
		OnInsecure:       e.noteInsecure,
		OnShellCreate:    e.shellRecs.creating,
		OnShellClosed:    e.shellRecs.closed,
		OrphanShells:     e.orphanShells,
	}); err != nil {
		e.shellRecs.close()
		return nil, fmt.Errorf("engine: %w", err)
	}
	if e.alerts, err = newAlertBook(ctx, db, opts.Alerts, e.log, func() {
		e.hub.Publish(nil, e.Summary())
		e.wakeNotifier() // the change is committed: its alert event is there to route
	}); err != nil {
		_ = e.winrm.Close(ctx)
		e.shellRecs.close()
		return nil, err
	}
	wopts := opts.Writer
	userOnError := wopts.OnError
	wopts.OnError = func(err error) {
		e.setFatal(&winrm.Error{Class: winrm.ClassFatal, Step: "write batch", Err: err})
		if userOnError != nil {
			userOnError(err)
		}
	}
	e.writer = store.NewWriter(db, wopts)
	e.writer.Start()
	e.alerts.sink = e.writer // polls' alert changes go with the writer's batches
	if e.patch, err = newPatchBook(opts.Patches, opts.Actions.withDefaults(opts.Retries).QueueExpiry); err != nil {
		_ = e.writer.Close()
		_ = e.winrm.Close(ctx)
		return nil, fmt.Errorf("engine: %w", err)
	}
	if opts.NoDeviceList {
		e.act = newActionBook(e)
		return e, nil
	}
	if err := e.Reload(ctx); err != nil {
		_ = e.writer.Close()
		_ = e.winrm.Close(ctx)
		e.shellRecs.close()
		return nil, err
	}
	e.act = newActionBook(e)
	e.recoverOrphans(ctx) // what a crashed rmm left (recovery.go)
	return e, nil
}

// Close flushes pending writes and releases connections. It does not
// close the store.
func (e *Engine) Close() error {
	e.stopPatchDriver() // the job driver and action runs stop first: they use the pool
	e.act.close()
	err := e.writer.Close()
	e.closeShells()                             // remote PowerShell sessions' shells deleted on the hosts
	perr := e.winrm.Close(context.Background()) // every pooled shell deleted on the hosts
	e.shellRecs.close()                         // their records gone with them (those not deleted stay for the next start)
	if id := e.registered(); id != 0 {
		if uerr := e.db.UnregisterProcess(context.Background(), id); uerr != nil {
			perr = errors.Join(perr, uerr)
		}
	}
	if err = errors.Join(err, perr); err != nil {
		return fmt.Errorf("engine close: %w", err)
	}
	return nil
}

func (e *Engine) setFatal(err error) {
	e.fatalMu.Lock()
	defer e.fatalMu.Unlock()
	if e.fatal != nil {
		return
	}
	e.fatal = err
	close(e.fatalC)
	e.log.Error("fatal error, scheduling stopped", "err", err)
}

// Fatal returns the first Fatal-class error, or nil.
func (e *Engine) Fatal() error {
	e.fatalMu.Lock()
	defer e.fatalMu.Unlock()
	return e.fatal
}

// Reload re-reads the device list from the store, keeping the state of
// devices already known.
func (e *Engine) Reload(ctx context.Context) error {
	devs, err := e.db.ListDevices(ctx)
	if err != nil {
		return fmt.Errorf("load devices: %w", err)
	}
	e.mu.Lock()
	next := make(map[int64]*entry, len(devs))
	counts := make(map[Status]int)
	for _, d := range devs {
		st := stateFromStore(d)
		if old, ok := e.devices[d.ID]; ok {
			st = old.state
			st.Hostname, st.Site = d.Hostname, d.Site
			st.OSName, st.OSVersion, st.Tags, st.Groups = d.OSName, d.OSVersion, d.Tags, d.Groups
		}
		next[d.ID] = &entry{dev: d, target: e.targetFor(d), state: st}
		counts[st.Status]++
	}
	var removed []int64
	for id := range e.devices {
		if _, ok := next[id]; !ok {
			removed = append(removed, id)
		}
	}
	e.devices, e.counts = next, counts
	e.loadHostIdentity(devs)
	states := make([]DeviceState, 0, len(next))
	for _, en := range next {
		states = append(states, en.state) // new and edited devices reach open consoles now, not at the next poll
	}
	sum := e.summaryLocked()
	e.mu.Unlock()
	if len(removed) > 0 {
		if e.alerts != nil {
			e.alerts.forget(removed)
		}
		e.hub.PublishRemoved(removed, sum)
	}
	e.hub.Publish(states, sum)
	ids := make([]int64, 0, len(states)+len(removed))
	for i := range states {
		ids = append(ids, states[i].ID)
	}
	e.colls.observe(e, append(ids, removed...)...)
	return nil
}

// deviceState returns the engine's state of device id.
func (e *Engine) deviceState(id int64) (DeviceState, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	en, ok := e.devices[id]
	if !ok {
		return DeviceState{}, false
	}
	return en.state, true
}

// device returns the engine's record of device id.
func (e *Engine) device(id int64) (store.Device, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	en, ok := e.devices[id]
	if !ok {
		return store.Device{}, false
	}
	return en.dev, true
}

// StateOf is a stored device as the engine's state: what a filter reads
// (rmm devices --filter reads the database, not a running engine).
func StateOf(d store.Device) DeviceState { return stateFromStore(d) }

func stateFromStore(d store.Device) DeviceState {
	st := Status(d.Status)
	switch st {
	case StatusOnline, StatusOffline:
	default:
		st = StatusUnknown
	}
	return DeviceState{
		ID: d.ID, Hostname: d.Hostname, Site: d.Site, Status: st,
		OSName: d.OSName, OSVersion: d.OSVersion, Tags: d.Tags, Groups: d.Groups,
		HasMetrics: d.HasMetrics, CPUPct: d.CPUPct, MemPct: d.MemPct, DiskFreePct: d.DiskFreePct,
		LastSeen: d.LastSeen, LastError: d.LastError,
	}
}

// Devices returns a snapshot of every device's state, ordered by hostname.
func (e *Engine) Devices() []DeviceState {
	e.mu.RLock()
	out := make([]DeviceState, 0, len(e.devices))
	for _, en := range e.devices {
		out = append(out, en.state)
	}
	e.mu.RUnlock()
	slices.SortFunc(out, func(a, b DeviceState) int { return cmp.Compare(a.Hostname, b.Hostname) })
	return out
}

// Summary returns the fleet at a glance.
func (e *Engine) Summary() Summary {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.summaryLocked()
}

func (e *Engine) summaryLocked() Summary {
	return Summary{
		Devices:  len(e.devices),
		Online:   e.counts[StatusOnline],
		Offline:  e.counts[StatusOffline],
		Unknown:  e.counts[StatusUnknown],
		Sweeping: e.sweeping,
		Done:     e.done,
		LastEnd:  e.lastEnd,
		LastTook: e.lastTook,
		PollingOff: func() string {
			if e.pollOff == nil {
				return ""
			}
			return e.pollOff.Error()
		}(),
	}
}

// Subscribe returns a subscription to device and summary changes.
func (e *Engine) Subscribe() *Subscription { return e.hub.Subscribe() }

// SweepResult summarises one sweep. Its JSON form is the stable output of
// `rmm poll --once --json`.
type SweepResult struct {
	Devices        int            `json:"devices"`
	Online         int            `json:"online"`
	Offline        int            `json:"offline"`
	Unknown        int            `json:"unknown"`
	DurationMS     int64          `json:"duration_ms"`
	MetricsWritten int            `json:"metrics_written"`
	Errors         map[string]int `json:"errors_by_class"`
	Pool           PoolStats      `json:"pool"` // the session pool's counters after the sweep
}

// Sweep polls every device once, in parallel up to the throttle, devices
// of a site going out together. It waits for the writes to be committed.
// Only one sweep runs at a time; a second caller waits.
func (e *Engine) Sweep(ctx context.Context) (SweepResult, error) {
	e.sweepMu.Lock()
	defer e.sweepMu.Unlock()
	if err := e.Fatal(); err != nil {
		return SweepResult{}, err
	}
	if off := e.PollingOff(); off != nil {
		return SweepResult{}, fmt.Errorf("polling is off: %w", off)
	}
	start := time.Now()

	e.mu.Lock()
	targets := make([]store.Device, 0, len(e.devices))
	for _, en := range e.devices {
		if e.relayed(en.dev.Site) {
			continue // its site relay polls it (relayed.go)
		}
		targets = append(targets, en.dev)
	}
	e.sweeping, e.done = true, 0
	sum := e.summaryLocked()
	e.mu.Unlock()
	e.hub.Publish(nil, sum)
	e.noFiles.Store(0)

	// Group by site so a site's hosts go out together (they share links
	// and jump boxes), then by hostname for a stable order.
	slices.SortFunc(targets, func(a, b store.Device) int {
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Hostname, b.Hostname))
	})

	var (
		resMu   sync.Mutex
		res     = SweepResult{Devices: len(targets), Errors: map[string]int{}}
		written int
	)
	o := e.options()
	p := pool.New().WithMaxGoroutines(o.Throttle).WithContext(ctx)
	for _, d := range targets {
		if stopScheduling(ctx, e.fatalC) {
			break // quit or Fatal: no new work; polls in flight end cleanly
		}
		p.Go(func(ctx context.Context) error {
			out := e.pollDevice(ctx, o, d)
			if out.skipped {
				// Not sent (no credential, no descriptor): nothing was
				// learnt about the device, its status stays.
				resMu.Lock()
				res.Errors[winrm.ClassOf(out.err).String()]++
				resMu.Unlock()
				return nil
			}
			if out.cancelled {
				return nil // cut short by quit: nothing was learnt, record nothing
			}
			n, err := e.record(ctx, d, out)
			resMu.Lock()
			written += n
			if out.err != nil {
				res.Errors[winrm.ClassOf(out.err).String()]++
			}
			resMu.Unlock()
			return err
		})
	}
	err := p.Wait()
	if ferr := e.writer.Flush(context.WithoutCancel(ctx)); ferr != nil && err == nil {
		err = ferr
	}
	took := time.Since(start)
	if trouble := e.credTrouble.take(); ctx.Err() == nil {
		if cerr := e.credentialAlerts(context.WithoutCancel(ctx), trouble, time.Now().UTC()); cerr != nil {
			e.log.Warn("credential alerts not written", "err", cerr)
		}
	}
	if n := e.noFiles.Load(); n > 0 {
		e.log.Warn("polls not sent: this process is out of file descriptors; their devices keep their last status",
			"polls", n, "fd_limit", winrm.OpenFileLimit(), "fix", "raise ulimit -n, or lower engine.throttle")
	}

	e.mu.Lock()
	e.sweeping = false
	if err == nil && ctx.Err() == nil {
		e.lastEnd, e.lastTook = time.Now(), took
	}
	sum = e.summaryLocked()
	e.mu.Unlock()
	e.hub.Publish(nil, sum)

	res.Online, res.Offline, res.Unknown = sum.Online, sum.Offline, sum.Unknown
	res.DurationMS = took.Milliseconds()
	res.MetricsWritten = written
	res.Pool = e.PoolStats()
	if ferr := e.Fatal(); ferr != nil {
		return res, ferr
	}
	if err != nil {
		return res, fmt.Errorf("sweep: %w", err)
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("sweep: %w", ctx.Err())
	}
	return res, nil
}

// Run sweeps now and then every Interval until ctx is done. It returns
// nil when ctx ends, or the Fatal error that stopped scheduling.
func (e *Engine) Run(ctx context.Context) error {
	for {
		start := time.Now()
		e.keepShellsWarm(e.options().Interval)
		if _, err := e.Sweep(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if ferr := e.Fatal(); ferr != nil {
				return ferr
			}
			e.log.Warn("sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.fatalC:
			return e.Fatal()
		case <-e.reconf:
			// The interval may have changed: wait out the new one.
			if wait := time.Until(start.Add(e.options().Interval)); wait > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-e.fatalC:
					return e.Fatal()
				case <-time.After(wait):
				}
			}
		case <-time.After(time.Until(start.Add(e.options().Interval))):
		}
	}
}

// WarmTTL is how long the scheduler keeps idle shells at least, for a
// poll interval: the interval and a fifth. The next sweep polls a host
// about one interval after the last, so a shell that lives exactly one
// interval (sessions.ttl and engine.poll_interval are both 5m by default)
// expires just before it is needed about half the time, and the sweep
// pays a new shell and a powershell.exe start there; the margin covers
// sweeps that start late or run long.
func WarmTTL(interval time.Duration) time.Duration { return interval + interval/5 }

// keepShellsWarm makes idle shells last at least WarmTTL(interval)
// whatever sessions.ttl says, while Run schedules sweeps, and tells the
// client how soon each host is polled again, so a poll's connection that
// would expire before then is closed rather than kept. A one-shot sweep
// (rmm poll --once) keeps sessions.ttl and every connection as they are.
func (e *Engine) keepShellsWarm(interval time.Duration) {
	e.winrm.KeepWarm(WarmTTL(interval))
	e.winrm.Revisit(interval)
}

// SweepsEvery prepares the engine for sweeps started interval apart by
// a caller of Sweep, as Run does before each of its own (rmm bench sweep
// --interval): idle shells kept until the next sweep, connections that
// would expire before it not kept.
func (e *Engine) SweepsEvery(interval time.Duration) { e.keepShellsWarm(interval) }

// record applies one poll outcome: cache first (write-through), then the
// batch writer, then an event. It returns the number of metric rows queued.
func (e *Engine) record(ctx context.Context, d store.Device, out pollOutcome) (int, error) {
	now := out.at
	upd := store.StatusUpdate{DeviceID: d.ID, Status: string(out.status), At: now}
	var rows []store.Metric
	if out.err != nil {
		upd.LastError = out.err.Error()
	} else {
		m := out.metrics
		upd.HasMetrics = true
		upd.CPUPct, upd.MemPct, upd.DiskFreePct = m.CPUPct, m.MemPct, m.MinDiskFreePct()
		rows = make([]store.Metric, 0, 2+2*len(m.Disks)) // one allocation per poll
		rows = append(rows,
			store.Metric{DeviceID: d.ID, Type: "cpu_pct", Value: m.CPUPct, At: now},
			store.Metric{DeviceID: d.ID, Type: "mem_pct", Value: m.MemPct, At: now},
		)
		for _, disk := range m.Disks {
			rows = append(rows,
				store.Metric{DeviceID: d.ID, Type: "disk_free_pct", Instance: disk.Drive, Value: disk.FreePct, At: now},
				store.Metric{DeviceID: d.ID, Type: "disk_free_gb", Instance: disk.Drive, Value: disk.FreeGB, At: now},
			)
		}
	}
	polled := len(rows) // the poll's own rows (cpu, memory, disks): what "metrics written" counts

	e.mu.Lock()
	en, ok := e.devices[d.ID]
	var st DeviceState
	if ok {
		prev := en.state.Status
		en.state.Status = out.status
		en.state.LastError = upd.LastError
		if out.status == StatusOnline {
			en.state.LastSeen = now
		}
		if upd.HasMetrics {
			en.state.HasMetrics = true
			en.state.CPUPct, en.state.MemPct, en.state.DiskFreePct = upd.CPUPct, upd.MemPct, upd.DiskFreePct
			if lb := out.metrics.LastBoot.Time; !lb.IsZero() {
				en.state.LastBoot = lb.UTC()
			}
			if m := &out.metrics; m.PendingReboot != nil {
				en.state.Reboot = filter.TriOf(*m.PendingReboot)
			}
		}
		if out.mode != "" {
			en.state.Mode = out.mode
		}
		e.counts[prev]--
		e.counts[out.status]++
		st = en.state
	}
	e.done++
	sum := e.summaryLocked()
	e.mu.Unlock()
	if ok {
		e.hub.Publish([]DeviceState{st}, sum)
		var m *scripts.HostMetrics
		if out.err == nil {
			m = &out.metrics
		}
		rows = append(rows, e.evaluate(ctx, d, st, m, out.err, now)...)
		e.colls.observe(e, d.ID)
		e.onDeviceStatus(d, out.status) // back online: its offline queue is replayed (actions_queue.go)
	}
	rows = append(rows, out.extra...)

	// Every row of the poll and its status go as one writer entry, so
	// they are committed together or not at all (a crash never leaves a
	// poll_ok without the metrics of the same poll).
	wctx := context.WithoutCancel(ctx) // a finished poll's result is kept even on quit
	if err := e.writer.AddPoll(wctx, rows, upd); err != nil {
		return 0, fmt.Errorf("queue the poll of %s: %w", d.Hostname, err)
	}
	if ok {
		e.status.Put(d.ID, st) // write-through: the cache holds what was queued
	}
	if fn := e.options().OnPoll; fn != nil {
		fn(PollRecord{Hostname: d.Hostname, Site: d.Site, Status: out.status, At: now, LastError: upd.LastError,
			HasMetrics: upd.HasMetrics, CPUPct: upd.CPUPct, MemPct: upd.MemPct, DiskFreePct: upd.DiskFreePct,
			Metrics: rows}) // every row of the poll: its own, alert and extended metrics
	}
	return polled, nil
}

// stopScheduling reports whether a sweep must start no more polls: the
// caller quit, or a Fatal error stopped scheduling.
func stopScheduling(ctx context.Context, fatal <-chan struct{}) bool {
	if ctx.Err() != nil {
		return true
	}
	select {
	case <-fatal:
		return true
	default:
		return false
	}
}
