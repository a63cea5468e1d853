package engine

// Health scores: 0-100 per device from four parts (availability,
// performance, security, compliance; 25 points each by default), with
// every lost point explained.
//
// A part without data (security and compliance until inventory is
// collected; performance while the device is offline) is shown as "no
// data" and left out: the score is the sum of the parts with data scaled
// to 100. So a device whose only known parts are perfect scores 100
// rather than 50; the breakdown says what the score does not cover. A
// device with no part known scores 0 with status Unknown.
//
// Status: Offline or Unknown from the device's status; otherwise Healthy
// (80-100), Warning (60-79) or Critical (0-59) from the score.
//
// Availability: an Offline device scores 0; an Unknown one that failed
// with a configuration error scores 0; an Online one scores the share of
// its polls that worked in the last 24 h (the poll_ok samples the engine
// writes each poll), full marks when there are none yet.
// Performance: the latest metrics against the device's thresholds; a
// value at warning loses 20% of the part, at critical 40%, for CPU,
// memory and each volume, down to 0.
// Security: Defender antivirus on, real-time protection on, signatures
// within their age, firewall on; each known check is an equal share.
// Compliance: no reboot pending past its limit, an update installed within
// updates.max_age, the watched services running, no security or critical
// update missing (from the last patch scan, denied ones left out);
// likewise.

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/alerting"
	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/store"
)

// HealthStatus is a device's health at a glance.
type HealthStatus string

// Health statuses.
const (
	HealthHealthy  HealthStatus = "Healthy"  // score 80-100
	HealthWarning  HealthStatus = "Warning"  // score 60-79
	HealthCritical HealthStatus = "Critical" // score 0-59
	HealthOffline  HealthStatus = "Offline"
	HealthUnknown  HealthStatus = "Unknown"
)

// HealthStatuses lists the statuses, worst first.
func HealthStatuses() []HealthStatus {
	return []HealthStatus{HealthOffline, HealthCritical, HealthWarning, HealthHealthy, HealthUnknown}
}

func statusForScore(score int) HealthStatus {
	switch {
	case score >= 80:
		return HealthHealthy
	case score >= 60:
		return HealthWarning
	}
	return HealthCritical
}

// HealthPart is one part of a score: its points out of Max, and why points
// were lost. HasData is false when nothing is known to judge it by; then
// Score is 0 and Reasons says what is missing.
type HealthPart struct {
	Name    string // availability, performance, security, compliance
	Score   int
	Max     int
	HasData bool
	Reasons []string
}

// String reads "performance 15/25: CPU 91% at or above warning 80% for 7m".
func (p HealthPart) String() string {
	s := fmt.Sprintf("%s %d/%d", p.Name, p.Score, p.Max)
	if !p.HasData {
		s = p.Name + " n/a"
	}
	if len(p.Reasons) > 0 {
		s += ": " + strings.Join(p.Reasons, "; ")
	}
	return s
}

// HealthScore is a device's score with its breakdown.
type HealthScore struct {
	Score  int // 0..100 over the parts with data
	Status HealthStatus
	Parts  []HealthPart
	// Because says why Status is worse than Score alone would make it:
	// an unresolved alert ("Critical alert: disk C: 93% used"); "" when
	// the score decides.
	Because string
}

// DeviceHealth is one device's score.
type DeviceHealth struct {
	DeviceID int64
	Hostname string
	Site     string
	HealthScore
	Availability Availability // uptime over 24 h and 7 d, TCP connect time (inventory_metrics.go)
}

// HealthInput is what one score is computed from. Zero fields are "not
// known".
type HealthInput struct {
	State      DeviceState
	Thresholds alerting.Thresholds
	Weights    alerting.HealthWeights
	// Metrics are the latest metrics with every volume; nil: the CPU,
	// memory and lowest free disk % of State.
	Metrics  *scripts.HostMetrics
	CPUSince time.Time       // since when CPU has been at or above warning
	MemSince time.Time       // likewise memory
	Polls    store.PollCount // polls in the last 24 h, and how many worked
	Failures int             // failed polls in a row now
	Facts    *HostFacts
	At       time.Time
	// Alerts are the device's unresolved alerts: one that is Critical
	// makes the status Critical, one that is High at most Warning,
	// whatever the score (rmm health and the alerts agree).
	Alerts []Alert
}

// ScoreHealth computes a device's health score (see the top of this file).
func ScoreHealth(in HealthInput) HealthScore {
	w := in.Weights
	if w == (alerting.HealthWeights{}) {
		w = alerting.DefaultHealthWeights()
	}
	var parts []HealthPart
	for _, p := range []HealthPart{
		availabilityPart(in, w.Availability),
		performancePart(in, w.Performance),
		securityPart(in, w.Security),
		compliancePart(in, w.Compliance),
	} {
		if p.Max > 0 {
			parts = append(parts, p)
		}
	}
	var got, of int
	for _, p := range parts {
		if p.HasData {
			got += p.Score
			of += p.Max
		}
	}
	h := HealthScore{Parts: parts, Status: HealthUnknown}
	if of > 0 {
		h.Score = int(math.Round(100 * float64(got) / float64(of)))
		h.Status = statusForScore(h.Score)
	}
	switch in.State.Status {
	case StatusOffline:
		h.Status = HealthOffline
	case StatusUnknown:
		h.Status = HealthUnknown
	default:
		capByAlerts(&h, in.Alerts)
	}
	return h
}

// capByAlerts lowers a scored status to what the device's worst
// unresolved alert says: a Critical alert is a Critical device, a High
// one at least a Warning (newcomer: "WS-0005 80 Healthy" beside an active
// Critical disk alert).
func capByAlerts(h *HealthScore, alerts []Alert) {
	if h.Status != HealthHealthy && h.Status != HealthWarning {
		return
	}
	var worst *Alert
	for i := range alerts {
		a := &alerts[i]
		if a.Severity != SeverityCritical && a.Severity != SeverityHigh {
			continue
		}
		if worst == nil || a.Severity == SeverityCritical && worst.Severity != SeverityCritical {
			worst = a
		}
	}
	switch {
	case worst == nil:
		return
	case worst.Severity == SeverityCritical:
		h.Status = HealthCritical
	case h.Status == HealthHealthy:
		h.Status = HealthWarning
	default:
		return
	}
	h.Because = string(worst.Severity) + " alert: " + worst.Message
}

// share is Max points times the fraction kept, rounded, within 0..Max.
func partPoints(points int, kept float64) int {
	return int(math.Round(float64(points) * min(1, max(0, kept))))
}

func availabilityPart(in HealthInput, weight int) HealthPart {
	p := HealthPart{Name: "availability", Max: weight}
	st := in.State
	switch st.Status {
	case StatusOffline:
		p.HasData = true
		r := "offline"
		if in.Failures > 0 {
			r += fmt.Sprintf(": %d polls in a row failed", in.Failures)
		}
		if !st.LastSeen.IsZero() {
			r += ", last seen " + roundAge(in.At.Sub(st.LastSeen)) + " ago"
		} else {
			r += ", never reached"
		}
		p.Reasons = append(p.Reasons, r)
	case StatusUnknown:
		if st.LastError == "" {
			p.Reasons = append(p.Reasons, "not polled yet")
			break
		}
		p.HasData = true
		p.Reasons = append(p.Reasons, "cannot be managed: "+st.LastError)
	default:
		p.HasData = true
		p.Score = p.Max
		if c := in.Polls; c.Total > 0 {
			p.Score = partPoints(p.Max, float64(c.OK)/float64(c.Total))
			if c.OK < c.Total {
				p.Reasons = append(p.Reasons, fmt.Sprintf("%d of %d polls in the last 24h worked (%.0f%%)",
					c.OK, c.Total, 100*float64(c.OK)/float64(c.Total)))
			}
		}
	}
	return p
}

func performancePart(in HealthInput, weight int) HealthPart {
	p := HealthPart{Name: "performance", Max: weight}
	st, th := in.State, in.Thresholds
	switch {
	case st.Status == StatusOffline:
		p.Reasons = append(p.Reasons, "no current data (device offline)")
		return p
	case in.Metrics == nil && !st.HasMetrics:
		p.Reasons = append(p.Reasons, "no metrics yet")
		return p
	}
	p.HasData = true
	lost := 0.0
	// judge reads "CPU 91% at or above warning 80% for 7m" or, with unit
	// " used", "disk C: 88% used at or above warning 80%".
	judge := func(what string, v float64, unit string, warn, crit float64, since time.Time) {
		lvl := levelOf(v, warn, crit)
		if lvl == LevelOK {
			return
		}
		limit := warn
		lost += 0.2
		if lvl == LevelCritical {
			limit = crit
			lost += 0.2
		}
		r := fmt.Sprintf("%s %.0f%%%s at or above %s %.0f%%", what, v, unit, lvl, limit)
		if !since.IsZero() && in.At.After(since) {
			r += " for " + roundAge(in.At.Sub(since))
		}
		p.Reasons = append(p.Reasons, r)
	}
	cpu, mem := st.CPUPct, st.MemPct
	if in.Metrics != nil {
		cpu, mem = in.Metrics.CPUPct, in.Metrics.MemPct
	}
	judge("CPU", cpu, "", th.CPUWarning, th.CPUCritical, in.CPUSince)
	judge("memory", mem, "", th.MemWarning, th.MemCritical, in.MemSince)
	if in.Metrics != nil {
		for _, d := range in.Metrics.Disks {
			judge("disk "+d.Drive, diskUsedPct(d.FreePct), " used", th.DiskWarning, th.DiskCritical, time.Time{})
		}
	} else {
		judge("fullest disk", diskUsedPct(st.DiskFreePct), " used", th.DiskWarning, th.DiskCritical, time.Time{})
	}
	p.Score = partPoints(p.Max, 1-lost)
	return p
}

// check is one pass/fail test of a part; known is false when its data
// was not collected.
type healthCheck struct {
	known  bool
	pass   bool
	reason string // why it failed
}

func checkedPart(name string, weight int, checks []healthCheck, none string) HealthPart {
	p := HealthPart{Name: name, Max: weight}
	known, passed := 0, 0
	for _, c := range checks {
		if !c.known {
			continue
		}
		known++
		if c.pass {
			passed++
		} else {
			p.Reasons = append(p.Reasons, c.reason)
		}
	}
	if known == 0 {
		p.Reasons = append(p.Reasons, none)
		return p
	}
	p.HasData = true
	p.Score = partPoints(p.Max, float64(passed)/float64(known))
	return p
}

const noInventory = "no data yet (inventory not collected)"

func boolHealthCheck(v *bool, reason string) healthCheck {
	if v == nil {
		return healthCheck{}
	}
	return healthCheck{known: true, pass: *v, reason: reason}
}

func securityPart(in HealthInput, weight int) HealthPart {
	f := in.Facts
	if f == nil {
		return checkedPart("security", weight, nil, noInventory)
	}
	sig := healthCheck{}
	if !f.SignaturesUpdated.IsZero() {
		breach, msg := signaturesBreach(f.SignaturesUpdated, in.At, in.Thresholds.SignatureAge)
		sig = healthCheck{known: true, pass: !breach, reason: msg}
	}
	return checkedPart("security", weight, []healthCheck{
		boolHealthCheck(f.DefenderEnabled, "Defender antivirus disabled"),
		boolHealthCheck(f.RealTimeProtection, "Defender real-time protection off"),
		sig,
		boolHealthCheck(f.FirewallEnabled, "firewall off on at least one profile"),
	}, noInventory)
}

func compliancePart(in HealthInput, weight int) HealthPart {
	f := in.Facts
	if f == nil {
		return checkedPart("compliance", weight, nil, noInventory)
	}
	th := in.Thresholds
	var checks []healthCheck
	if f.PendingReboot != nil {
		breach, msg := pendingRebootBreach(*f.PendingReboot, f.PendingRebootSince, in.At, th.PendingReboot)
		checks = append(checks, healthCheck{known: true, pass: !breach, reason: msg})
	}
	if !f.LastUpdateInstalled.IsZero() {
		age := in.At.Sub(f.LastUpdateInstalled)
		checks = append(checks, healthCheck{known: true, pass: age <= th.UpdatesAge,
			reason: fmt.Sprintf("last update installed %s ago (limit %s)", roundAge(age), roundAge(th.UpdatesAge))})
	}
	if n := f.MissingSecurityUpdates; n != nil {
		reason := fmt.Sprintf("%d security or critical update(s) missing", *n)
		if len(f.MissingSecurityKBs) > 0 {
			shown := f.MissingSecurityKBs[:min(len(f.MissingSecurityKBs), 4)]
			reason += ": " + strings.Join(shown, ", ")
			if len(f.MissingSecurityKBs) > len(shown) {
				reason += ", ..."
			}
		}
		checks = append(checks, healthCheck{known: true, pass: *n == 0, reason: reason})
	}
	if f.Services != nil && len(th.WatchedServices) > 0 {
		stopped := stoppedServices(th.WatchedServices, f.Services)
		checks = append(checks, healthCheck{known: true, pass: len(stopped) == 0,
			reason: "watched services not running: " + strings.Join(stopped, ", ")})
	}
	return checkedPart("compliance", weight, checks, noInventory)
}

// Health scores every device at at, worst first (see SortHealth). It
// reads the latest metrics, sustain timers and facts this engine holds,
// the poll_ok samples of the last 24 h, and, for devices this engine has
// not polled yet (a CLI run), the stored latest per-volume disk samples
// and the unresolved alerts.
func (e *Engine) Health(ctx context.Context, at time.Time) ([]DeviceHealth, error) {
	e.restoreFactsOnce(ctx) // after a restart: the stored inventory facts (inventory.go)
	devs := e.Devices()
	opts, _ := AlertOptions{}.withDefaults()
	watches := map[int64]deviceWatch{}
	var alerts []Alert
	if e.alerts != nil {
		opts = e.alerts.options()
		watches = e.alerts.snapshot()
		alerts = e.alerts.unresolved()
	}
	polls, err := e.db.PollCountsSince(ctx, at.Add(-oneDay))
	if err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	var disks map[int64][]store.Metric
	for _, d := range devs {
		if watches[d.ID].metrics == nil && d.HasMetrics {
			if disks, err = e.db.LatestMetrics(ctx, "disk_free_pct"); err != nil {
				return nil, fmt.Errorf("health: %w", err)
			}
			break
		}
	}
	// For a device without sustain timers here, an unresolved CPU or
	// memory alert says since when: it was raised a sustain time into the run.
	alertSince := map[store.AlertKey]time.Time{}
	byDevice := map[int64][]Alert{}
	for _, a := range alerts {
		if a.Type == AlertTypeCPU || a.Type == AlertTypeMemory {
			alertSince[a.key()] = a.FirstSeen
		}
		if a.DeviceID != 0 {
			byDevice[a.DeviceID] = append(byDevice[a.DeviceID], a)
		}
	}

	out := make([]DeviceHealth, 0, len(devs))
	for _, d := range devs {
		w := watches[d.ID]
		th := opts.Thresholds.For(d.Hostname, d.Groups)
		in := HealthInput{State: d, Thresholds: th, Weights: opts.Weights, Metrics: w.metrics,
			CPUSince: w.cpu.warnSince, MemSince: w.mem.warnSince, Polls: polls[d.ID], Failures: w.failures,
			Facts: w.facts, At: at, Alerts: byDevice[d.ID]}
		if in.Metrics == nil && d.HasMetrics {
			if vols := disks[d.ID]; len(vols) > 0 {
				m := &scripts.HostMetrics{CPUPct: d.CPUPct, MemPct: d.MemPct}
				for _, v := range vols {
					m.Disks = append(m.Disks, scripts.DiskMetrics{Drive: v.Instance, FreePct: v.Value})
				}
				in.Metrics = m
			}
		}
		if in.CPUSince.IsZero() {
			if t, ok := alertSince[store.AlertKey{DeviceID: d.ID, Type: AlertTypeCPU}]; ok {
				in.CPUSince = t.Add(-th.CPUSustain)
			}
		}
		if in.MemSince.IsZero() {
			if t, ok := alertSince[store.AlertKey{DeviceID: d.ID, Type: AlertTypeMemory}]; ok {
				in.MemSince = t.Add(-th.MemSustain)
			}
		}
		out = append(out, DeviceHealth{DeviceID: d.ID, Hostname: d.Hostname, Site: d.Site, HealthScore: ScoreHealth(in)})
	}
	if err := e.fillAvailability(ctx, out, at); err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	SortHealth(out)
	return out, nil
}

// snapshot copies the device watches (their metrics and facts are never
// changed in place, so the pointers are shared).
func (b *alertBook) snapshot() map[int64]deviceWatch {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make(map[int64]deviceWatch, len(b.watches))
	for id, w := range b.watches {
		out[id] = *w
	}
	return out
}

// SortHealth orders scores worst first: by score, then Offline before
// Critical before Warning before Healthy, then by hostname; devices
// without a score (Unknown, no data) go last.
func SortHealth(hs []DeviceHealth) {
	unscored := func(h DeviceHealth) bool { return h.Status == HealthUnknown }
	slices.SortFunc(hs, func(a, b DeviceHealth) int {
		if ua, ub := unscored(a), unscored(b); ua != ub {
			if ua {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Score, b.Score),
			cmp.Compare(slices.Index(HealthStatuses(), a.Status), slices.Index(HealthStatuses(), b.Status)),
			cmp.Compare(a.Hostname, b.Hostname))
	})
}

// FleetHealth is the fleet's health at a glance.
type FleetHealth struct {
	Devices  int
	ByStatus map[HealthStatus]int // every status has an entry
	Scored   int                  // devices with status Healthy, Warning or Critical
	Average  float64              // their mean score; 0 when none
	Worst    []DeviceHealth       // the worst scored and offline devices, worst first
}

// SummarizeHealth counts hs by status, averages the scores of the Healthy,
// Warning and Critical devices (an offline device's score says only that
// it is offline; it is counted, not averaged) and keeps the worst n
// (n <= 0: all) of the devices that have a status other than Unknown.
func SummarizeHealth(hs []DeviceHealth, n int) FleetHealth {
	f := FleetHealth{Devices: len(hs), ByStatus: map[HealthStatus]int{}}
	for _, s := range HealthStatuses() {
		f.ByStatus[s] = 0
	}
	sorted := slices.Clone(hs)
	SortHealth(sorted)
	sum := 0
	for _, h := range sorted {
		f.ByStatus[h.Status]++
		switch h.Status {
		case HealthHealthy, HealthWarning, HealthCritical:
			f.Scored++
			sum += h.Score
		}
		if h.Status != HealthUnknown && (n <= 0 || len(f.Worst) < n) {
			f.Worst = append(f.Worst, h)
		}
	}
	if f.Scored > 0 {
		f.Average = math.Round(10*float64(sum)/float64(f.Scored)) / 10
	}
	return f
}

// HealthReport scores the fleet now: the result is a FleetHealth with the
// Worst devices (0: every device with a status).
type HealthReport struct{ Worst int }

// Action implements Request.
func (HealthReport) Action() string { return "health.report" }

// Permission implements Request.
func (HealthReport) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (HealthReport) Mutating() bool { return false }

// Targets implements Request.
func (HealthReport) Targets() []string { return nil }

// Details implements Request.
func (r HealthReport) Details() map[string]any { return map[string]any{"worst": r.Worst} }

func (r HealthReport) run(ctx context.Context, e *Engine, _ Identity) (FleetHealth, error) {
	hs, err := e.Health(ctx, time.Now().UTC())
	if err != nil {
		return FleetHealth{}, err
	}
	return SummarizeHealth(hs, r.Worst), nil
}
