package engine

// The engine's alert API: the hooks polls and collections call, the
// reads the front ends use, and the requests that acknowledge, resolve
// and list alerts.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rmmhq/rmm/engine/scripts"
	"github.com/rmmhq/rmm/store"
)

// evaluate is the engine's alert hook: Engine.record calls it after each
// poll outcome of device d is recorded (st is the state it recorded; m is
// the poll's metrics, nil when pollErr is set). It updates the alerts and
// returns the poll_ok sample the availability score reads, which record
// stores with the poll's other rows. A failed alert write is logged; the
// next poll tries again.
func (e *Engine) evaluate(ctx context.Context, d store.Device, st DeviceState, m *scripts.HostMetrics, pollErr error, at time.Time) []store.Metric {
	if e.alerts == nil {
		return nil
	}
	ctx = context.WithoutCancel(ctx) // a finished poll's findings are kept even on quit
	ok := 0.0
	if pollErr == nil {
		ok = 1
	}
	sample := []store.Metric{{DeviceID: d.ID, Type: MetricPollOK, Value: ok, At: at}}
	if err := e.alerts.observePoll(ctx, d, st, m, pollErr, at); err != nil {
		e.log.Error("alerts not updated", "device", d.Hostname, "err", err)
	}
	return sample
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

// AlertCounts counts the Active alerts (raised, not acknowledged, not snoozed)
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
