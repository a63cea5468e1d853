package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/rmmhq/rmm/engine/filter"
)

// Bulk changes of alerts: the console's marks in the alerts view and rmm
// alerts ack|resolve|snooze --filter. One request, one audit row naming
// the alerts (or the filter) and the note; each alert changed the way
// AckAlert, ResolveAlert and a snooze change one.

// Alert changes ChangeAlerts makes.
const (
	AlertOpAck     = "ack"
	AlertOpResolve = "resolve"
	AlertOpSnooze  = "snooze"
)

// MaxSnooze is the longest a snooze may last.
const MaxSnooze = 30 * 24 * time.Hour

// ChangeAlerts acknowledges, resolves or snoozes alerts: those in IDs,
// or (Filter set instead) every unresolved alert the alert filter
// grammar matches (ParseAlertFilter). Note is kept with each; For is how
// long a snooze lasts (0 with Op snooze wakes the alerts). An alert that
// is not in a state for the change (already acknowledged, resolved
// meanwhile) is reported in Failed; the others are changed.
type ChangeAlerts struct {
	Op     string
	IDs    []int64
	Filter string
	Note   string
	For    time.Duration
}

// AlertChanges is what ChangeAlerts did.
type AlertChanges struct {
	Changed []Alert        `json:"changed"`
	Failed  []AlertFailure `json:"failed"`
}

// AlertFailure is one alert ChangeAlerts could not change, and why.
type AlertFailure struct {
	ID    int64  `json:"id"`
	Error string `json:"error"`
}

// Action implements Request: alerts.ack, alerts.resolve or alerts.snooze.
func (r ChangeAlerts) Action() string {
	if r.Op == "" {
		return "alerts.change"
	}
	return "alerts." + r.Op
}

// Permission implements Request.
func (ChangeAlerts) Permission() Permission { return PermAlertsEdit }

// Mutating implements Request.
func (ChangeAlerts) Mutating() bool { return true }

// Targets implements Request.
func (r ChangeAlerts) Targets() []string {
	if r.Filter != "" {
		return []string{"alerts matching " + r.Filter}
	}
	out := make([]string, len(r.IDs))
	for i, id := range r.IDs {
		out[i] = "alert " + strconv.FormatInt(id, 10)
	}
	return capTargets(out)
}

// Details implements Request.
func (r ChangeAlerts) Details() map[string]any {
	d := map[string]any{"note": r.Note, "alerts": len(r.IDs)}
	if r.Filter != "" {
		d["filter"] = r.Filter
	}
	if r.Op == AlertOpSnooze {
		d["for"] = r.For.String()
	}
	return d
}

// Validate checks the change before anything runs, so a front end can
// refuse bad input (the CLI's exit 2).
func (r ChangeAlerts) Validate() error {
	switch r.Op {
	case AlertOpAck, AlertOpResolve, AlertOpSnooze:
	default:
		return badInput(fmt.Errorf("alerts: %q is not ack, resolve or snooze", r.Op))
	}
	if (len(r.IDs) == 0) == (r.Filter == "") {
		return badInput(errors.New("alerts: give alert ids or a filter, one of them"))
	}
	if r.Op == AlertOpSnooze && (r.For < 0 || r.For > MaxSnooze) {
		return badInput(fmt.Errorf("alerts: snooze for %s: want 0 (wake) up to %s", r.For, MaxSnooze))
	}
	if r.Filter != "" {
		if _, err := ParseAlertFilter(r.Filter); err != nil {
			return badInput(fmt.Errorf("alerts: --filter: %w", err))
		}
	}
	return nil
}

func (r ChangeAlerts) run(ctx context.Context, e *Engine, id Identity) (AlertChanges, error) {
	if err := r.Validate(); err != nil {
		return AlertChanges{}, err
	}
	b, err := e.book()
	if err != nil {
		return AlertChanges{}, err
	}
	ids := r.IDs
	if r.Filter != "" {
		f, _ := ParseAlertFilter(r.Filter) // checked by Validate
		as := b.unresolved()
		if r.Op == AlertOpAck {
			// Acknowledging what someone already acknowledged is no change:
			// a filter acknowledges the Active ones.
			as = slices.DeleteFunc(as, func(a Alert) bool { return a.State != AlertActive })
		}
		ids = matchingAlerts(as, f)
	}
	now := time.Now().UTC()
	out := AlertChanges{Changed: []Alert{}, Failed: []AlertFailure{}}
	for _, aid := range ids {
		var a Alert
		var err error
		switch r.Op {
		case AlertOpAck:
			a, err = b.ack(ctx, aid, id.User, r.Note, now)
		case AlertOpResolve:
			a, err = b.resolve(ctx, aid, id.User, r.Note, now)
		case AlertOpSnooze:
			until := time.Time{}
			if r.For > 0 {
				until = now.Add(r.For)
			}
			a, err = b.snooze(ctx, aid, id.User, r.Note, until)
		}
		if err != nil {
			if ctx.Err() != nil {
				return out, err
			}
			out.Failed = append(out.Failed, AlertFailure{ID: aid, Error: err.Error()})
			continue
		}
		out.Changed = append(out.Changed, a)
	}
	return out, nil
}

// matchingAlerts are the ids of the alerts f matches, in their order.
func matchingAlerts(as []Alert, f filter.Filter[Alert]) []int64 {
	var ids []int64
	for i := range as {
		if f.Match(&as[i]) {
			ids = append(ids, as[i].ID)
		}
	}
	return ids
}
