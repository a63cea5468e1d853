package engine

// The alert book: the engine's alerting state and the rules that turn a
// poll or a collection into alert changes (see alerts.go for the
// lifecycle).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/rmmhq/rmm/engine/alerting"
	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// alertBook is the engine's alerting state: the unresolved alerts (a
// write-through copy of the store's), the per-device watches (failure
// counts, sustain timers, latest metrics and facts for the health score)
// and the options. The Engine holds one; it is safe for concurrent use.
type alertBook struct {
	db       *store.DB
	log      *slog.Logger
	onChange func() // after any change of an alert; must not block

	// sink, when set, carries the changes polls find: queued to the
	// store's batch writer, committed with its batches, applied to memory
	// when committed (settle), so a poll never waits on SQLite. Without
	// it (and for facts, acks and resolutions) changes are written here
	// and now.
	sink *store.Writer

	mu      sync.RWMutex
	opts    AlertOptions
	active  map[int64]Alert                           // unresolved alerts by id
	byKey   map[store.AlertKey]int64                  // unresolved alert id by condition
	byDev   map[int64][]store.AlertKey                // unresolved conditions by device
	pending map[int64]map[store.AlertKey]pendingAlert // by device: changes queued to sink, not yet committed
	watches map[int64]*deviceWatch                    // by device id
	order   map[int64]*sync.Mutex                     // per device: its polls' changes are queued in poll order
}

// pendingAlert is what is queued for one condition and not yet committed:
// how many changes, and whether the last leaves it unresolved. Planning
// takes it over memory, so a poll that follows a queued change decides as
// it would after the commit.
type pendingAlert struct {
	n          int
	unresolved bool
}

// deviceWatch is what the engine remembers of a device between polls.
type deviceWatch struct {
	failures     int       // polls in a row that failed
	failingSince time.Time // when the first of them ended
	cpu, mem     sustain
	metrics      *scripts.HostMetrics // the latest metrics; nil until a poll worked
	facts        *HostFacts
	rebootSince  time.Time // when a pending reboot was first seen
}

// newAlertBook loads the unresolved alerts from the store. onChange (may
// be nil) is called after every change of an alert, outside any lock,
// from the goroutine that made it; it must not block.
func newAlertBook(ctx context.Context, db *store.DB, opts AlertOptions, log *slog.Logger, onChange func()) (*alertBook, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &alertBook{db: db, log: log, onChange: onChange, opts: opts, watches: map[int64]*deviceWatch{},
		byDev: map[int64][]store.AlertKey{}, pending: map[int64]map[store.AlertKey]pendingAlert{},
		order: map[int64]*sync.Mutex{}}
	if err := b.reload(ctx); err != nil {
		return nil, err
	}
	// Failed polls in a row count on across restarts (and across one-shot
	// rmm poll --once runs), from the poll_ok samples.
	runs, err := db.PollFailureRuns(ctx)
	if err != nil {
		return nil, fmt.Errorf("load alerts: %w", err)
	}
	for id, r := range runs {
		w := b.watch(id)
		w.failures, w.failingSince = r.Failures, r.Since
	}
	return b, nil
}

// reload replaces the in-memory alerts with the store's unresolved ones,
// picking up changes made by other rmm processes (an ack from the CLI).
func (b *alertBook) reload(ctx context.Context) error {
	rows, err := b.db.UnresolvedAlerts(ctx)
	if err != nil {
		return fmt.Errorf("load alerts: %w", err)
	}
	active := make(map[int64]Alert, len(rows))
	byKey := make(map[store.AlertKey]int64, len(rows))
	byDev := make(map[int64][]store.AlertKey)
	for _, r := range rows {
		a := alertFromStore(r)
		active[a.ID] = a
		byKey[a.key()] = a.ID
		byDev[a.DeviceID] = append(byDev[a.DeviceID], a.key())
	}
	b.mu.Lock()
	b.active, b.byKey, b.byDev = active, byKey, byDev
	b.mu.Unlock()
	return nil
}

// setOptions replaces the options (a config reload); sustain timers and
// failure counts are kept.
func (b *alertBook) setOptions(opts AlertOptions) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.opts = opts
	b.mu.Unlock()
	return nil
}

func (b *alertBook) options() AlertOptions {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.opts
}

// forget drops what is remembered of removed devices; their alerts went
// with them in the store (ON DELETE CASCADE).
func (b *alertBook) forget(ids []int64) {
	b.mu.Lock()
	for _, id := range ids {
		delete(b.watches, id)
		delete(b.order, id)
		delete(b.byDev, id)
		delete(b.pending, id)
		for aid, a := range b.active {
			if a.DeviceID == id {
				delete(b.active, aid)
				delete(b.byKey, a.key())
			}
		}
	}
	b.mu.Unlock()
}

func (b *alertBook) watch(id int64) *deviceWatch {
	w := b.watches[id]
	if w == nil {
		w = &deviceWatch{}
		b.watches[id] = w
	}
	return w
}

// finding is what an evaluation concluded about one condition: it holds
// (raise or keep the alert) or it cleared (resolve it). A condition the
// evaluation knows nothing about has no finding.
type finding struct {
	key      store.AlertKey
	holds    bool
	raise    bool // holds, and may raise a new alert (sustained); an unresolved one is kept while it holds
	once     bool // raised once; later detections do not bump it (offline, unmanageable)
	severity Severity
	message  string
}

func clearedFinding(k store.AlertKey) finding { return finding{key: k} }

// observePoll evaluates one poll outcome of device d at at: m is nil when
// the poll failed with pollErr.
func (b *alertBook) observePoll(ctx context.Context, d store.Device, st DeviceState, m *scripts.HostMetrics, pollErr error, at time.Time) error {
	key := func(typ, inst string) store.AlertKey {
		return store.AlertKey{DeviceID: d.ID, Type: typ, Instance: inst}
	}
	unlock := b.lockDevice(d.ID)
	defer unlock()
	b.mu.Lock()
	th := b.opts.Thresholds.For(d.Hostname, d.Groups)
	w := b.watch(d.ID)
	var fs []finding
	switch {
	case pollErr == nil:
		w.failures, w.failingSince = 0, time.Time{}
		fs = append(fs, clearedFinding(key(AlertTypeOffline, "")), clearedFinding(key(AlertTypeUnmanageable, "")))
		if m != nil {
			mc := *m
			mc.Disks = slices.Clone(m.Disks)
			w.metrics = &mc
			fs = append(fs, metricFindings(w, th, &mc, d.ID, at)...)
			fs = append(fs, b.vanishedVolumes(d.ID, &mc)...)
		}
	case winrm.ClassOf(pollErr) == winrm.ClassConfiguration:
		// The host answered: it is not offline, but rmm cannot manage it.
		w.failures, w.failingSince = 0, time.Time{}
		w.cpu.reset()
		w.mem.reset()
		fs = append(fs, clearedFinding(key(AlertTypeOffline, "")), finding{key: key(AlertTypeUnmanageable, ""), holds: true,
			raise: true, once: true, severity: SeverityHigh, message: "cannot be managed: " + pollErr.Error()})
	default:
		if w.failures == 0 {
			w.failingSince = at
		}
		w.failures++
		w.cpu.reset()
		w.mem.reset()
		if w.failures >= b.opts.OfflineAfter {
			msg := fmt.Sprintf("offline: %d polls in a row failed since %s", w.failures, w.failingSince.UTC().Format("2006-01-02 15:04 UTC"))
			if !st.LastSeen.IsZero() {
				msg += ", last seen " + st.LastSeen.UTC().Format("2006-01-02 15:04 UTC")
			}
			fs = append(fs, finding{key: key(AlertTypeOffline, ""), holds: true, raise: true, once: true,
				severity: SeverityHigh, message: msg + ": " + pollErr.Error()})
		}
	}
	steps := b.plan(d, fs, at)
	if b.sink != nil {
		b.pendLocked(steps)
		b.mu.Unlock()
		return b.queue(ctx, d, steps, at)
	}
	b.mu.Unlock()
	return b.write(ctx, d, steps, at)
}

// lockDevice serialises the evaluations of one device, so their changes
// reach the store (and memory) in the order of its polls. It returns the
// unlock.
func (b *alertBook) lockDevice(id int64) func() {
	b.mu.Lock()
	m := b.order[id]
	if m == nil {
		m = new(sync.Mutex)
		b.order[id] = m
	}
	b.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// metricFindings judges one poll's metrics against th. Disks are judged
// per volume on used % (100 - free %).
func metricFindings(w *deviceWatch, th alerting.Thresholds, m *scripts.HostMetrics, dev int64, at time.Time) []finding {
	var fs []finding
	sustained := func(typ, what string, v, warn, crit float64, need time.Duration, s *sustain) {
		now, held := s.observe(v, warn, crit, need, at)
		f := finding{key: store.AlertKey{DeviceID: dev, Type: typ}, holds: now >= LevelWarning, raise: held >= LevelWarning}
		if !f.holds {
			fs = append(fs, f)
			return
		}
		// The level held decides; an unresolved alert kept while the run
		// restarts (after a restart, a failed poll) takes the level now.
		lvl, since := held, s.warnSince
		if lvl < LevelWarning {
			lvl, since = now, time.Time{}
		}
		f.severity, f.message = SeverityMedium, fmt.Sprintf("%s %.0f%% at or above warning %.0f%%", what, v, warn)
		if lvl == LevelCritical {
			if !since.IsZero() {
				since = s.critSince
			}
			f.severity, f.message = SeverityCritical, fmt.Sprintf("%s %.0f%% at or above critical %.0f%%", what, v, crit)
		}
		if !since.IsZero() {
			f.message += " for " + roundAge(at.Sub(since))
		}
		fs = append(fs, f)
	}
	sustained(AlertTypeCPU, "CPU", m.CPUPct, th.CPUWarning, th.CPUCritical, th.CPUSustain, &w.cpu)
	sustained(AlertTypeMemory, "memory", m.MemPct, th.MemWarning, th.MemCritical, th.MemSustain, &w.mem)
	for _, dk := range m.Disks {
		used := diskUsedPct(dk.FreePct)
		f := finding{key: store.AlertKey{DeviceID: dev, Type: AlertTypeDisk, Instance: dk.Drive}}
		switch lvl := levelOf(used, th.DiskWarning, th.DiskCritical); lvl {
		case LevelOK:
		default:
			f.holds, f.raise, f.severity = true, true, SeverityMedium
			limit := th.DiskWarning
			if lvl == LevelCritical {
				f.severity, limit = SeverityCritical, th.DiskCritical
			}
			f.message = fmt.Sprintf("disk %s %.0f%% used (%.1f GB free of %.1f GB), at or above %s %.0f%%",
				dk.Drive, used, dk.FreeGB, dk.SizeGB, lvl, limit)
		}
		fs = append(fs, f)
	}
	return fs
}

// vanishedVolumes clears the disk alerts of volumes the device no longer
// reports (a volume removed or dismounted). Called with b.mu held.
func (b *alertBook) vanishedVolumes(dev int64, m *scripts.HostMetrics) []finding {
	var fs []finding
	gone := func(k store.AlertKey) {
		if k.Type == AlertTypeDisk && !slices.ContainsFunc(m.Disks, func(d scripts.DiskMetrics) bool { return d.Drive == k.Instance }) {
			fs = append(fs, clearedFinding(k))
		}
	}
	queued := b.pending[dev]
	for _, k := range b.byDev[dev] {
		if _, ok := queued[k]; !ok {
			gone(k)
		}
	}
	for k, p := range queued { // raised and not yet committed
		if p.unresolved {
			gone(k)
		}
	}
	return fs
}

// observeFacts evaluates newly collected facts of device d: pending
// reboot, Defender signatures, watched services. Facts not collected are
// not judged.
func (b *alertBook) observeFacts(ctx context.Context, d store.Device, f HostFacts, at time.Time) error {
	b.mu.Lock()
	th := b.opts.Thresholds.For(d.Hostname, d.Groups)
	w := b.watch(d.ID)
	var fs []finding
	if f.PendingReboot != nil {
		k := store.AlertKey{DeviceID: d.ID, Type: AlertTypePendingReboot}
		switch {
		case !*f.PendingReboot:
			w.rebootSince = time.Time{}
		case !f.PendingRebootSince.IsZero():
			w.rebootSince = f.PendingRebootSince
		case w.rebootSince.IsZero():
			w.rebootSince = at
		}
		f.PendingRebootSince = w.rebootSince
		breach, msg := pendingRebootBreach(*f.PendingReboot, w.rebootSince, at, th.PendingReboot)
		fs = append(fs, finding{key: k, holds: breach, raise: breach, severity: SeverityLow, message: msg})
	}
	if !f.SignaturesUpdated.IsZero() {
		breach, msg := signaturesBreach(f.SignaturesUpdated, at, th.SignatureAge)
		fs = append(fs, finding{key: store.AlertKey{DeviceID: d.ID, Type: AlertTypeSignatures}, holds: breach, raise: breach,
			severity: SeverityHigh, message: msg})
	}
	if f.Services != nil {
		stopped := stoppedServices(th.WatchedServices, f.Services)
		for _, name := range th.WatchedServices {
			k := store.AlertKey{DeviceID: d.ID, Type: AlertTypeService, Instance: name}
			if slices.Contains(stopped, name) {
				fs = append(fs, finding{key: k, holds: true, raise: true, severity: SeverityHigh,
					message: fmt.Sprintf("watched service %s is not running", name)})
			} else {
				fs = append(fs, clearedFinding(k))
			}
		}
	}
	fc := f
	w.facts = &fc
	steps := b.plan(d, fs, at)
	b.mu.Unlock()
	return b.write(ctx, d, steps, at)
}

// step is one store write a finding calls for.
type alertStep struct {
	f       finding
	resolve bool // auto-resolve; else record a detection
}

// plan decides which findings change an alert: a condition that holds is
// recorded unless a maintenance window covers the device, it was raised
// once already (once), or it is new and not held long enough; a condition
// that cleared resolves its unresolved alert. Called with b.mu held.
func (b *alertBook) plan(d store.Device, fs []finding, at time.Time) []alertStep {
	var steps []alertStep
	maint := b.opts.inMaintenance(d.Hostname, d.Groups, at)
	for _, f := range fs {
		active := b.unresolvedLocked(f.key)
		switch {
		case !f.holds:
			if active {
				steps = append(steps, alertStep{f: f, resolve: true})
			}
		case maint: // no alerts inside a maintenance window
		case active && f.once: // raised once, not again every poll
		case !active && !f.raise: // not held long enough yet
		default:
			steps = append(steps, alertStep{f: f})
		}
	}
	return steps
}

// unresolvedLocked reports whether the condition has an unresolved alert,
// counting the changes queued and not yet committed. b.mu must be held.
func (b *alertBook) unresolvedLocked(k store.AlertKey) bool {
	if p, ok := b.pending[k.DeviceID][k]; ok {
		return p.unresolved
	}
	_, ok := b.byKey[k]
	return ok
}

// pendLocked notes the steps as queued. b.mu must be held.
func (b *alertBook) pendLocked(steps []alertStep) {
	for _, s := range steps {
		k := s.f.key
		dev := b.pending[k.DeviceID]
		if dev == nil {
			dev = make(map[store.AlertKey]pendingAlert, 2)
			b.pending[k.DeviceID] = dev
		}
		p := dev[k]
		p.n++
		p.unresolved = !s.resolve
		dev[k] = p
	}
}

// unpendLocked notes the steps as committed (or lost). b.mu must be held.
func (b *alertBook) unpendLocked(steps []alertStep) {
	for _, s := range steps {
		k := s.f.key
		dev := b.pending[k.DeviceID]
		if dev == nil {
			continue // forgotten meanwhile
		}
		if p := dev[k]; p.n > 1 {
			p.n--
			dev[k] = p
		} else {
			delete(dev, k)
		}
		if len(dev) == 0 {
			delete(b.pending, k.DeviceID)
		}
	}
}

// alertOps turns steps into the store's changes.
func alertOps(steps []alertStep, at time.Time, window time.Duration) []store.AlertOp {
	ops := make([]store.AlertOp, len(steps))
	for i, s := range steps {
		ops[i] = store.AlertOp{
			Detection:   store.AlertDetection{Key: s.f.key, Severity: string(s.f.severity), Message: s.f.message, At: at},
			ReopenSince: at.Add(-window),
			Resolve:     s.resolve,
		}
		if s.resolve {
			ops[i].ResolvedBy = ResolvedByEngine
		}
	}
	return ops
}

// queue hands the steps (already noted as pending) to the batch writer;
// settle applies them to memory once they are committed. A change that
// cannot be queued (the writer closed) is dropped from pending, and the
// next poll decides again.
func (b *alertBook) queue(ctx context.Context, d store.Device, steps []alertStep, at time.Time) error {
	if len(steps) == 0 {
		return nil
	}
	ops := alertOps(steps, at, b.options().DedupWindow)
	err := b.sink.AddAlerts(ctx, ops, func(res []store.AlertResult) {
		if err := b.settle(d, steps, res, true); err != nil {
			b.log.Error("alerts not updated", "device", d.Hostname, "err", err)
		}
	})
	if err != nil {
		b.mu.Lock()
		b.unpendLocked(steps)
		b.mu.Unlock()
		return fmt.Errorf("alerts of %s: %w", d.Hostname, err)
	}
	return nil
}

// write carries the steps out in the store, then in memory. It runs
// without b.mu, so readers of the alert list never wait on SQLite.
func (b *alertBook) write(ctx context.Context, d store.Device, steps []alertStep, at time.Time) error {
	if len(steps) == 0 {
		return nil
	}
	res := make([]store.AlertResult, len(steps))
	for i, op := range alertOps(steps, at, b.options().DedupWindow) {
		r := &res[i]
		if op.Resolve {
			r.Alert, r.Resolved, r.Err = b.db.AutoResolveAlert(ctx, op.Detection.Key, op.ResolvedBy, at)
		} else {
			r.Alert, r.Change, r.Err = b.db.RecordAlert(ctx, op.Detection, op.ReopenSince)
		}
	}
	return b.settle(d, steps, res, false)
}

// settle applies the store's results of steps to memory (a change that
// failed leaves memory as it was, so the next poll tries again), logs
// what was raised and resolved, and returns the failures. queued says the
// steps were noted as pending.
func (b *alertBook) settle(d store.Device, steps []alertStep, res []store.AlertResult, queued bool) error {
	var (
		changed []Alert
		errs    []error
	)
	for i, s := range steps {
		r := res[i]
		switch {
		case r.Err != nil:
			errs = append(errs, r.Err)
		case r.Dropped: // the device was deleted meanwhile; forget drops its alerts
		case s.resolve && r.Resolved:
			changed = append(changed, alertFromStore(r.Alert))
			b.log.Info("alert resolved", "device", d.Hostname, "type", r.Alert.Type, "instance", r.Alert.Instance,
				"id", r.Alert.ID, "auto", true)
		case s.resolve: // resolved meanwhile (another process): forget it
			changed = append(changed, Alert{DeviceID: s.f.key.DeviceID, Type: s.f.key.Type, Instance: s.f.key.Instance, State: AlertResolved})
		default:
			a := alertFromStore(r.Alert)
			changed = append(changed, a)
			if r.Change != store.AlertBumped {
				b.log.Info("alert raised", "device", d.Hostname, "type", a.Type, "instance", a.Instance,
					"severity", a.Severity, "id", a.ID, "change", r.Change.String())
			}
		}
	}
	b.apply(changed, func() {
		if queued {
			b.unpendLocked(steps)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("alerts of %s: %w", d.Hostname, err)
	}
	return nil
}

// unindexLocked drops k from its device's unresolved conditions. b.mu
// must be held.
func (b *alertBook) unindexLocked(k store.AlertKey) {
	ks := slices.DeleteFunc(b.byDev[k.DeviceID], func(x store.AlertKey) bool { return x == k })
	if len(ks) == 0 {
		delete(b.byDev, k.DeviceID)
	} else {
		b.byDev[k.DeviceID] = ks
	}
}

// put brings memory in line with alerts just written, and calls onChange.
func (b *alertBook) put(as ...Alert) { b.apply(as, nil) }

// apply is put, with also (when not nil) run under the same lock, so
// memory and the pending changes move together.
func (b *alertBook) apply(as []Alert, also func()) {
	if len(as) == 0 && also == nil {
		return
	}
	b.mu.Lock()
	if also != nil {
		also()
	}
	for _, a := range as {
		k := a.key()
		if a.State == AlertResolved {
			if id, ok := b.byKey[k]; ok && (a.ID == 0 || id == a.ID) {
				delete(b.byKey, k)
				delete(b.active, id)
				b.unindexLocked(k)
			}
			delete(b.active, a.ID)
			continue
		}
		if old, ok := b.byKey[k]; ok && old != a.ID {
			delete(b.active, old)
		}
		if _, ok := b.byKey[k]; !ok {
			b.byDev[k.DeviceID] = append(b.byDev[k.DeviceID], k)
		}
		b.active[a.ID] = a
		b.byKey[k] = a.ID
	}
	b.mu.Unlock()
	if b.onChange != nil && len(as) > 0 {
		b.onChange()
	}
}

// ack acknowledges alert id as who.
func (b *alertBook) ack(ctx context.Context, id int64, who, note string, at time.Time) (Alert, error) {
	a, err := b.db.AckAlert(ctx, id, who, note, at)
	if err != nil {
		return Alert{}, err
	}
	out := alertFromStore(a)
	b.put(out)
	return out, nil
}

// snooze snoozes alert id until until as who.
func (b *alertBook) snooze(ctx context.Context, id int64, who, note string, until time.Time) (Alert, error) {
	a, err := b.db.SnoozeAlert(ctx, id, who, note, until)
	if err != nil {
		return Alert{}, err
	}
	out := alertFromStore(a)
	b.put(out)
	return out, nil
}

// resolve resolves alert id by hand as who.
func (b *alertBook) resolve(ctx context.Context, id int64, who, note string, at time.Time) (Alert, error) {
	a, err := b.db.ResolveAlert(ctx, id, who, note, at)
	if err != nil {
		return Alert{}, err
	}
	out := alertFromStore(a)
	b.put(out)
	return out, nil
}

// unresolved returns the Active and Acknowledged alerts, sorted.
func (b *alertBook) unresolved() []Alert {
	b.mu.RLock()
	out := make([]Alert, 0, len(b.active))
	for _, a := range b.active {
		out = append(out, a)
	}
	b.mu.RUnlock()
	SortAlerts(out)
	return out
}

func zeroAlertCounts() map[Severity]int {
	out := make(map[Severity]int, len(Severities()))
	for _, s := range Severities() {
		out[s] = 0
	}
	return out
}

// counts counts the Active (not yet acknowledged) alerts by severity;
// every severity has an entry.
func (b *alertBook) counts() map[Severity]int {
	out := zeroAlertCounts()
	now := time.Now()
	b.mu.RLock()
	for _, a := range b.active {
		if a.State == AlertActive && !a.Snoozed(now) {
			out[a.Severity]++
		}
	}
	b.mu.RUnlock()
	return out
}
