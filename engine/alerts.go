package engine

// Alerts: what the engine raises from each poll (and, once inventory is
// collected, from each collection), how an alert lives, and the requests
// that acknowledge and resolve one.
//
// Lifecycle: Active -> Acknowledged -> Resolved, then archived by
// retention (store.ApplyRetention) once older than retention.data.
//
//   - One alert per condition: a device, a type and an instance (a volume,
//     a service). While it is unresolved, each new detection bumps its
//     count and last seen (and sets its severity and message to the
//     latest) instead of adding an alert.
//   - The dedup window (5 min): a condition detected again within the
//     window after its alert was resolved reopens that alert (Active,
//     count + 1, acknowledgement cleared); later, a new alert is raised.
//   - Auto-resolve: when a poll shows the condition cleared, its alert is
//     resolved by "rmm", marked auto_resolved.
//   - Offline: a device raises one "offline" alert once OfflineAfter polls
//     in a row failed (default 2). It is not bumped by later failures, and
//     the device's metric alerts are neither raised nor cleared while it
//     fails (nothing is known of them). The first poll that works resolves
//     it. A configuration failure (401, TLS) raises one "unmanageable"
//     alert the same way.
//   - Sustain: CPU and memory alert only after staying at or above a level
//     for the sustain time (5 min) across polls; disk alerts at once. A
//     failed poll breaks the run. Once raised, an alert lasts while the
//     value stays at or above warning, whatever its run; so an alert
//     reloaded after a restart is not resolved because the sustain timers
//     (kept in memory, not restored) started again.
//   - Failed polls in a row are restored at start from the poll_ok samples
//     the engine writes each poll, so a restart (or a series of one-shot
//     rmm poll --once runs) counts on towards OfflineAfter.
//   - Maintenance windows suppress raising (new alerts, bumps, reopens) for
//     the devices they cover; clearing still resolves.
//   - Every change is written to the store first, then to memory, then
//     onChange is called; a failed write leaves memory as it was, so the
//     next poll tries again. The engine's polls queue their changes to the
//     store's batch writer (in each device's poll order) and memory
//     follows when the batch commits, so a poll never waits on SQLite;
//     until then a condition's queued change counts for the next
//     evaluation (pending), so a quick second poll decides as it would
//     after the commit. Facts, acknowledgements and resolutions by hand
//     are written at once.
//
// Severity mapping: a critical threshold held -> Critical; a warning
// threshold held -> Medium; offline, unmanageable, stopped watched
// service, stale Defender signatures -> High; pending reboot -> Low. Info
// is for notices the engine may add; nothing raises it yet.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// Severity is how urgent an alert is.
type Severity string

// Severities, most urgent first.
const (
	SeverityCritical Severity = store.SeverityCritical
	SeverityHigh     Severity = store.SeverityHigh
	SeverityMedium   Severity = store.SeverityMedium
	SeverityLow      Severity = store.SeverityLow
	SeverityInfo     Severity = store.SeverityInfo
)

// Severities lists every severity, most urgent first.
func Severities() []Severity {
	return []Severity{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityInfo}
}

// Rank orders severities: 0 is the most urgent.
func (s Severity) Rank() int {
	if i := slices.Index(Severities(), s); i >= 0 {
		return i
	}
	return len(Severities())
}

// ParseSeverity reads a severity name in any case.
func ParseSeverity(s string) (Severity, error) {
	for _, v := range Severities() {
		if strings.EqualFold(s, string(v)) {
			return v, nil
		}
	}
	return "", fmt.Errorf("severity %q is not one of Critical, High, Medium, Low, Info", s)
}

// AlertState is where an alert is in its lifecycle.
type AlertState string

// Alert states.
const (
	AlertActive       AlertState = store.AlertActive
	AlertAcknowledged AlertState = store.AlertAcknowledged
	AlertResolved     AlertState = store.AlertResolved
)

// ParseAlertState reads a state name in any case; "acked" is Acknowledged.
func ParseAlertState(s string) (AlertState, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "active":
		return AlertActive, nil
	case "acknowledged", "acked":
		return AlertAcknowledged, nil
	case "resolved":
		return AlertResolved, nil
	}
	return "", fmt.Errorf("alert state %q is not one of Active, Acknowledged, Resolved", s)
}

// Alert types the engine raises (Alert.Type).
const (
	AlertTypeOffline       = "offline"         // OfflineAfter polls in a row failed
	AlertTypeUnmanageable  = "unmanageable"    // a configuration failure: credential, 401/403, TLS
	AlertTypeCPU           = "cpu_high"        // CPU at or above a threshold for its sustain time
	AlertTypeMemory        = "mem_high"        // memory likewise
	AlertTypeDisk          = "disk_used"       // a fixed volume (Instance "C:") used at or above a threshold
	AlertTypePendingReboot = "pending_reboot"  // a reboot pending longer than its limit
	AlertTypeSignatures    = "defender_stale"  // Defender signatures older than their limit
	AlertTypeService       = "service_stopped" // a watched service (Instance) not running
)

// ResolvedByEngine is who resolves an alert whose condition cleared.
const ResolvedByEngine = "rmm"

// MetricPollOK is the metric the engine writes for every poll: 1 when it
// worked, 0 when it failed. The health score's availability is its mean.
const MetricPollOK = "poll_ok"

// Alert is one alert as the engine and its front ends see it.
type Alert struct {
	ID           int64
	DeviceID     int64 // 0 when it concerns no single device
	Hostname     string
	Type         string // an AlertType* constant
	Instance     string // what on the device: a volume ("C:"), a service; "" for device-wide alerts
	Severity     Severity
	State        AlertState
	Message      string
	Count        int       // detections folded into this alert
	FirstSeen    time.Time // when it was raised
	LastSeen     time.Time // the last detection
	AckedBy      string
	AckedAt      time.Time // zero when not acknowledged
	AckNote      string
	ResolvedBy   string    // ResolvedByEngine when AutoResolved
	ResolvedAt   time.Time // zero while unresolved
	ResolveNote  string
	AutoResolved bool
}

func alertFromStore(a store.Alert) Alert {
	return Alert{
		ID: a.ID, DeviceID: a.DeviceID, Hostname: a.Hostname, Type: a.Type, Instance: a.Instance,
		Severity: Severity(a.Severity), State: AlertState(a.State), Message: a.Message, Count: a.Count,
		FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, AckedBy: a.AckedBy, AckedAt: a.AckedAt, AckNote: a.AckNote,
		ResolvedBy: a.ResolvedBy, ResolvedAt: a.ResolvedAt, ResolveNote: a.ResolveNote, AutoResolved: a.AutoResolved,
	}
}

func (a Alert) key() store.AlertKey {
	return store.AlertKey{DeviceID: a.DeviceID, Type: a.Type, Instance: a.Instance}
}

// SortAlerts orders alerts the way the console and the CLI list them:
// most urgent severity first, then the most recently raised first.
func SortAlerts(as []Alert) {
	slices.SortFunc(as, func(a, b Alert) int {
		return cmp.Or(cmp.Compare(a.Severity.Rank(), b.Severity.Rank()),
			b.FirstSeen.Compare(a.FirstSeen), cmp.Compare(b.ID, a.ID))
	})
}

// HostFacts are what inventory collection learnt of a device's security
// and compliance: the inputs of the pending-reboot, Defender and
// watched-service alerts and of the security and compliance parts of the
// health score. A nil pointer, a zero time or a nil map means "not
// collected" (the host lacks the cmdlet, the category was not collected
// yet), never "off" or "none".
type HostFacts struct {
	CollectedAt         time.Time
	DefenderEnabled     *bool     // antivirus enabled
	RealTimeProtection  *bool     // Defender real-time protection on
	SignaturesUpdated   time.Time // when Defender signatures were last updated
	FirewallEnabled     *bool     // every firewall profile on
	PendingReboot       *bool
	PendingRebootSince  time.Time         // when the reboot became pending; zero: rmm counts from when it first saw it
	LastUpdateInstalled time.Time         // the newest hotfix's install date
	Services            map[string]string // service name -> state ("Running", "Stopped", ...)
}

// Recurrence is a maintenance window that comes back: on some weekdays
// (every day when Days is empty) at a wall-clock time, for Length.
type Recurrence struct {
	Days     []time.Weekday
	Hour     int
	Minute   int
	Length   time.Duration  // more than 0, at most 7 days
	Location *time.Location // the wall clock's zone; nil: UTC
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseRecurrence reads "Sat 22:00 + 4h", "Mon,Wed 01:30 + 90m" or
// "daily 02:00 + 1h" (lengths in Go duration syntax, or days: "+ 2d"),
// with the wall clock in loc (nil: UTC).
func ParseRecurrence(s string, loc *time.Location) (Recurrence, error) {
	bad := func(why string) (Recurrence, error) {
		return Recurrence{}, fmt.Errorf("maintenance window %q: %s (examples: Sat 22:00 + 4h, Mon,Wed 01:30 + 90m, daily 02:00 + 1h)", s, why)
	}
	when, length, ok := strings.Cut(s, "+")
	f := strings.Fields(when)
	if !ok || len(f) != 2 {
		return bad("want DAYS HH:MM + LENGTH")
	}
	r := Recurrence{Location: loc}
	if !strings.EqualFold(f[0], "daily") {
		for _, d := range strings.Split(strings.ToLower(f[0]), ",") {
			wd, ok := weekdayNames[d[:min(3, len(d))]]
			if !ok || len(d) < 3 {
				return bad(fmt.Sprintf("%q is not a weekday (sun..sat) or daily", d))
			}
			if !slices.Contains(r.Days, wd) {
				r.Days = append(r.Days, wd)
			}
		}
	}
	hh, mm, ok := strings.Cut(f[1], ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || len(mm) != 2 {
		return bad(fmt.Sprintf("%q is not a time of day HH:MM", f[1]))
	}
	r.Hour, r.Minute = h, m
	length = strings.TrimSpace(length)
	if n, ok := strings.CutSuffix(length, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return bad(fmt.Sprintf("length %q is not a duration", length))
		}
		r.Length = time.Duration(days) * oneDay
	} else {
		d, err := time.ParseDuration(length)
		if err != nil {
			return bad(fmt.Sprintf("length %q is not a duration", length))
		}
		r.Length = d
	}
	if err := r.validate(); err != nil {
		return bad(err.Error())
	}
	return r, nil
}

func (r Recurrence) validate() error {
	if r.Length <= 0 || r.Length > 7*oneDay {
		return fmt.Errorf("length %s is out of range: want more than 0, at most 7 days", r.Length)
	}
	if r.Hour < 0 || r.Hour > 23 || r.Minute < 0 || r.Minute > 59 {
		return fmt.Errorf("time %02d:%02d is not a time of day", r.Hour, r.Minute)
	}
	return nil
}

// covers reports whether at falls in an occurrence of r: one that starts
// on at's day or on one of the days before, as far back as Length reaches.
func (r Recurrence) covers(at time.Time) bool {
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	local := at.In(loc)
	back := int((r.Length + oneDay - 1) / oneDay)
	for i := 0; i <= back; i++ {
		d := local.AddDate(0, 0, -i)
		if len(r.Days) > 0 && !slices.Contains(r.Days, d.Weekday()) {
			continue
		}
		start := time.Date(d.Year(), d.Month(), d.Day(), r.Hour, r.Minute, 0, 0, loc)
		if !at.Before(start) && at.Before(start.Add(r.Length)) {
			return true
		}
	}
	return false
}

// MaintenanceWindow is a time in which the devices of a group, or one
// device, raise no alerts: once (Start..End) or recurring (Every).
type MaintenanceWindow struct {
	Name   string
	Group  string // the group's devices; or
	Device string // one device, by hostname (exactly one of the two)
	Start  time.Time
	End    time.Time   // a one-off window: [Start, End)
	Every  *Recurrence // a recurring window, when Start and End are zero
}

// Validate checks that the window says whom it covers and when.
func (w MaintenanceWindow) Validate() error {
	name := w.Name
	if name == "" {
		name = "maintenance window"
	}
	switch {
	case (w.Group == "") == (w.Device == ""):
		return &SettingError{Field: name, Problem: "set exactly one of group and device"}
	case w.Every != nil && (!w.Start.IsZero() || !w.End.IsZero()):
		return &SettingError{Field: name, Problem: "set either start and end, or a recurrence, not both"}
	case w.Every != nil:
		if err := w.Every.validate(); err != nil {
			return &SettingError{Field: name, Problem: err.Error()}
		}
	case w.Start.IsZero() || !w.End.After(w.Start):
		return &SettingError{Field: name, Problem: "a one-off window needs a start before its end"}
	}
	return nil
}

// Covers reports whether the window holds the device at at.
func (w MaintenanceWindow) Covers(hostname string, groups []string, at time.Time) bool {
	switch {
	case w.Device != "":
		if !strings.EqualFold(w.Device, hostname) {
			return false
		}
	case !slices.ContainsFunc(groups, func(g string) bool { return strings.EqualFold(g, w.Group) }):
		return false
	}
	if w.Every != nil {
		return w.Every.covers(at)
	}
	return !at.Before(w.Start) && at.Before(w.End)
}

// Defaults of AlertOptions.
const (
	DefaultDedupWindow  = 5 * time.Minute
	DefaultOfflineAfter = 2
)

// AlertOptions configure alerting and health scores. The zero value takes
// the defaults.
type AlertOptions struct {
	Thresholds   ThresholdSet  // zero Defaults: DefaultThresholds()
	DedupWindow  time.Duration // a condition back within this after its alert was resolved reopens it (default 5m)
	OfflineAfter int           // failed polls in a row before the offline alert (default 2)
	Maintenance  []MaintenanceWindow
	Weights      HealthWeights // zero: 25 each
}

func (o AlertOptions) withDefaults() (AlertOptions, error) {
	if thresholdsUnset(o.Thresholds.Defaults) {
		o.Thresholds.Defaults = DefaultThresholds()
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	if o.OfflineAfter == 0 {
		o.OfflineAfter = DefaultOfflineAfter
	}
	if o.Weights == (HealthWeights{}) {
		o.Weights = DefaultHealthWeights()
	}
	var errs []error
	if err := o.Thresholds.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.DedupWindow < 0 || o.DedupWindow > oneDay {
		errs = append(errs, &SettingError{Field: "dedup_window", Problem: fmt.Sprintf("%s is out of range 0..24h", o.DedupWindow)})
	}
	if o.OfflineAfter < 1 || o.OfflineAfter > 100 {
		errs = append(errs, &SettingError{Field: "offline_after", Problem: fmt.Sprintf("%d is out of range 1..100", o.OfflineAfter)})
	}
	for _, w := range o.Maintenance {
		if err := w.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := o.Weights.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("alert options: %w", err)
	}
	return o, nil
}

func thresholdsUnset(t Thresholds) bool {
	return t.CPUWarning == 0 && t.CPUCritical == 0 && t.CPUSustain == 0 && t.MemWarning == 0 && t.MemCritical == 0 &&
		t.MemSustain == 0 && t.DiskWarning == 0 && t.DiskCritical == 0 && t.PendingReboot == 0 && t.SignatureAge == 0 &&
		t.UpdatesAge == 0 && t.WatchedServices == nil
}

func (o AlertOptions) inMaintenance(hostname string, groups []string, at time.Time) bool {
	for _, w := range o.Maintenance {
		if w.Covers(hostname, groups, at) {
			return true
		}
	}
	return false
}

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
func metricFindings(w *deviceWatch, th Thresholds, m *scripts.HostMetrics, dev int64, at time.Time) []finding {
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
	b.mu.RLock()
	for _, a := range b.active {
		if a.State == AlertActive {
			out[a.Severity]++
		}
	}
	b.mu.RUnlock()
	return out
}

// evaluate is the engine's alert hook: Engine.record calls it after each
// poll outcome of device d is recorded (st is the state it recorded; m is
// the poll's metrics, nil when pollErr is set). It writes the poll_ok
// sample the availability score reads and updates the alerts. A failed
// alert write is logged; the next poll tries again.
func (e *Engine) evaluate(ctx context.Context, d store.Device, st DeviceState, m *scripts.HostMetrics, pollErr error, at time.Time) {
	if e.alerts == nil {
		return
	}
	ctx = context.WithoutCancel(ctx) // a finished poll's findings are kept even on quit
	ok := 0.0
	if pollErr == nil {
		ok = 1
	}
	if err := e.writer.AddMetrics(ctx, []store.Metric{{DeviceID: d.ID, Type: MetricPollOK, Value: ok, At: at}}); err != nil {
		e.log.Warn("queue poll_ok sample", "device", d.Hostname, "err", err)
	}
	if err := e.alerts.observePoll(ctx, d, st, m, pollErr, at); err != nil {
		e.log.Error("alerts not updated", "device", d.Hostname, "err", err)
	}
}

// ObserveFacts is the inventory's alert hook: call it with what a
// collection learnt of device id (see HostFacts). It raises and clears the
// pending-reboot, Defender and watched-service alerts and keeps the facts
// for the health score.
func (e *Engine) ObserveFacts(ctx context.Context, id int64, f HostFacts, at time.Time) error {
	if e.alerts == nil {
		return errors.New("observe facts: alerts are not enabled")
	}
	d, ok := e.device(id)
	if !ok {
		return fmt.Errorf("observe facts of device %d: not found", id)
	}
	return e.alerts.observeFacts(ctx, d, f, at)
}

// ActiveAlerts returns the unresolved (Active and Acknowledged) alerts,
// most urgent first, then the most recently raised first.
func (e *Engine) ActiveAlerts() []Alert {
	if e.alerts == nil {
		return nil
	}
	return e.alerts.unresolved()
}

// AlertCounts counts the Active alerts (raised and not yet acknowledged)
// by severity, for a header; every severity has an entry.
func (e *Engine) AlertCounts() map[Severity]int {
	if e.alerts == nil {
		return zeroAlertCounts()
	}
	return e.alerts.counts()
}

// SetAlertOptions applies new thresholds, windows and weights (a config
// reload). Alerts already raised stay until their condition is judged
// again under the new options.
func (e *Engine) SetAlertOptions(o AlertOptions) error {
	if e.alerts == nil {
		return errors.New("set alert options: alerts are not enabled")
	}
	return e.alerts.setOptions(o)
}

// ReloadAlerts re-reads the unresolved alerts from the store, so changes
// made by another rmm process (an ack from the CLI) show.
func (e *Engine) ReloadAlerts(ctx context.Context) error {
	if e.alerts == nil {
		return nil
	}
	return e.alerts.reload(ctx)
}

func (e *Engine) book() (*alertBook, error) {
	if e.alerts == nil {
		return nil, errors.New("alerts are not enabled in this engine")
	}
	return e.alerts, nil
}

// AckAlert acknowledges an Active alert: someone is on it. The note is
// kept with the alert and in the audit row.
type AckAlert struct {
	ID   int64
	Note string
}

// Action implements Request.
func (AckAlert) Action() string { return "alerts.ack" }

// Permission implements Request.
func (AckAlert) Permission() Permission { return PermAlertsEdit }

// Mutating implements Request.
func (AckAlert) Mutating() bool { return true }

// Targets implements Request.
func (r AckAlert) Targets() []string { return []string{"alert " + strconv.FormatInt(r.ID, 10)} }

// Details implements Request.
func (r AckAlert) Details() map[string]any { return map[string]any{"id": r.ID, "note": r.Note} }

func (r AckAlert) run(ctx context.Context, e *Engine, id Identity) (Alert, error) {
	b, err := e.book()
	if err != nil {
		return Alert{}, err
	}
	return b.ack(ctx, r.ID, id.User, r.Note, time.Now().UTC())
}

// ResolveAlert resolves an Active or Acknowledged alert by hand.
type ResolveAlert struct {
	ID   int64
	Note string
}

// Action implements Request.
func (ResolveAlert) Action() string { return "alerts.resolve" }

// Permission implements Request.
func (ResolveAlert) Permission() Permission { return PermAlertsEdit }

// Mutating implements Request.
func (ResolveAlert) Mutating() bool { return true }

// Targets implements Request.
func (r ResolveAlert) Targets() []string { return []string{"alert " + strconv.FormatInt(r.ID, 10)} }

// Details implements Request.
func (r ResolveAlert) Details() map[string]any { return map[string]any{"id": r.ID, "note": r.Note} }

func (r ResolveAlert) run(ctx context.Context, e *Engine, id Identity) (Alert, error) {
	b, err := e.book()
	if err != nil {
		return Alert{}, err
	}
	return b.resolve(ctx, r.ID, id.User, r.Note, time.Now().UTC())
}

// ListAlerts reads alerts from the store. State is "" or "open" (Active
// and Acknowledged), "active", "acknowledged" ("acked"), "resolved" or
// "all"; Severity is "" (all) or one severity; Limit 0 means no limit.
// The result is a []Alert, most urgent first, then the most recently
// raised first.
type ListAlerts struct {
	State    string
	Severity string
	Limit    int
}

// Action implements Request.
func (ListAlerts) Action() string { return "alerts.list" }

// Permission implements Request.
func (ListAlerts) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (ListAlerts) Mutating() bool { return false }

// Targets implements Request.
func (ListAlerts) Targets() []string { return nil }

// Details implements Request.
func (r ListAlerts) Details() map[string]any {
	return map[string]any{"state": r.State, "severity": r.Severity, "limit": r.Limit}
}

// Validate checks the state, severity and limit, so a front end can
// refuse bad input before it asks.
func (r ListAlerts) Validate() error {
	_, err := r.filter()
	return err
}

func (r ListAlerts) filter() (store.AlertFilter, error) {
	f := store.AlertFilter{Limit: r.Limit}
	if r.Limit < 0 {
		return f, fmt.Errorf("list alerts: limit %d is negative", r.Limit)
	}
	switch s := strings.ToLower(strings.TrimSpace(r.State)); s {
	case "", "open":
		f.States = []string{store.AlertActive, store.AlertAcknowledged}
	case "all":
	default:
		st, err := ParseAlertState(s)
		if err != nil {
			return f, fmt.Errorf("list alerts: %w (or open, all)", err)
		}
		f.States = []string{string(st)}
	}
	if r.Severity != "" {
		sev, err := ParseSeverity(r.Severity)
		if err != nil {
			return f, fmt.Errorf("list alerts: %w", err)
		}
		f.Severity = string(sev)
	}
	return f, nil
}

func (r ListAlerts) run(ctx context.Context, e *Engine, _ Identity) ([]Alert, error) {
	f, err := r.filter()
	if err != nil {
		return nil, err
	}
	rows, err := e.db.ListAlerts(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]Alert, len(rows))
	for i, a := range rows {
		out[i] = alertFromStore(a)
	}
	return out, nil
}
