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
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/alerting"
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
	// SnoozedUntil is when a snoozed alert wakes (zero when never
	// snoozed). Until then it is unresolved as before, but not counted
	// in the header (AlertCounts) and listed as Snoozed.
	SnoozedUntil time.Time
	SnoozedBy    string
	SnoozeNote   string
}

// Snoozed reports whether the alert is snoozed at now.
func (a Alert) Snoozed(now time.Time) bool { return now.Before(a.SnoozedUntil) }

func alertFromStore(a store.Alert) Alert {
	return Alert{
		ID: a.ID, DeviceID: a.DeviceID, Hostname: a.Hostname, Type: a.Type, Instance: a.Instance,
		Severity: Severity(a.Severity), State: AlertState(a.State), Message: a.Message, Count: a.Count,
		FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, AckedBy: a.AckedBy, AckedAt: a.AckedAt, AckNote: a.AckNote,
		ResolvedBy: a.ResolvedBy, ResolvedAt: a.ResolvedAt, ResolveNote: a.ResolveNote, AutoResolved: a.AutoResolved,
		SnoozedUntil: a.SnoozedUntil, SnoozedBy: a.SnoozedBy, SnoozeNote: a.SnoozeNote,
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

// SortAlertsBy orders alerts by an alert sort key (AlertSortKeys:
// severity, host, type, state, count, raised, last), ascending or
// descending, ties in SortAlerts' order. "severity" ascending is most
// urgent first.
func SortAlertsBy(as []Alert, key string, desc bool) {
	SortAlerts(as)
	slices.SortStableFunc(as, func(a, b Alert) int {
		c := CompareAlerts(&a, &b, key)
		if desc {
			c = -c
		}
		return c
	})
}

// CompareAlerts compares two alerts by an alert sort key; an unknown key
// compares equal.
func CompareAlerts(a, b *Alert, key string) int {
	switch key {
	case "severity":
		return cmp.Compare(a.Severity.Rank(), b.Severity.Rank())
	case "host":
		return cmp.Compare(strings.ToLower(a.Hostname), strings.ToLower(b.Hostname))
	case "type":
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Instance, b.Instance))
	case "state":
		return cmp.Compare(alertStateWord(a), alertStateWord(b))
	case "count":
		return cmp.Compare(a.Count, b.Count)
	case "raised":
		return a.FirstSeen.Compare(b.FirstSeen)
	case "last":
		return a.LastSeen.Compare(b.LastSeen)
	}
	return 0
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
	// MissingSecurityUpdates counts the Security and Critical updates the
	// last patch scan found missing (denied ones left out); nil: never
	// scanned. MissingSecurityKBs names them.
	MissingSecurityUpdates *int     `json:",omitempty"`
	MissingSecurityKBs     []string `json:",omitempty"`
}

// Defaults of AlertOptions.
const (
	DefaultDedupWindow  = 5 * time.Minute
	DefaultOfflineAfter = 2
)

// AlertOptions configure alerting and health scores. The zero value takes
// the defaults.
type AlertOptions struct {
	Thresholds   alerting.ThresholdSet // zero Defaults: alerting.DefaultThresholds()
	DedupWindow  time.Duration         // a condition back within this after its alert was resolved reopens it (default 5m)
	OfflineAfter int                   // failed polls in a row before the offline alert (default 2)
	Maintenance  []alerting.MaintenanceWindow
	Weights      alerting.HealthWeights // zero: 25 each
}

func (o AlertOptions) withDefaults() (AlertOptions, error) {
	if thresholdsUnset(o.Thresholds.Defaults) {
		o.Thresholds.Defaults = alerting.DefaultThresholds()
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	if o.OfflineAfter == 0 {
		o.OfflineAfter = DefaultOfflineAfter
	}
	if o.Weights == (alerting.HealthWeights{}) {
		o.Weights = alerting.DefaultHealthWeights()
	}
	var errs []error
	if err := o.Thresholds.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.DedupWindow < 0 || o.DedupWindow > oneDay {
		errs = append(errs, &alerting.SettingError{Field: "dedup_window", Problem: fmt.Sprintf("%s is out of range 0..24h", o.DedupWindow)})
	}
	if o.OfflineAfter < 1 || o.OfflineAfter > 100 {
		errs = append(errs, &alerting.SettingError{Field: "offline_after", Problem: fmt.Sprintf("%d is out of range 1..100", o.OfflineAfter)})
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

func thresholdsUnset(t alerting.Thresholds) bool {
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
