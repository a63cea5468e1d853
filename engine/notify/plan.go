package notify

import (
	"slices"
	"time"
)

// Delivery is one message a route sends (or holds, or suppresses) on one
// channel for one alert change.
type Delivery struct {
	Route   string
	Channel string
	Kind    Kind
	// HoldUntil, when set, holds the message until then: the route's
	// digest window or quiet hours. Held messages of one route and
	// channel released together go as one digest when Merge is set.
	HoldUntil time.Time
	Merge     bool
	// Suppressed, when set, says why the message is recorded and not
	// sent (a maintenance window covers the device).
	Suppressed string
}

// Decision is where one alert change goes.
type Decision struct {
	Deliveries []Delivery
	// Track lists the routes that now tell about the alert: its
	// acknowledgement, resolution and repeats go to them later.
	Track []string
	// Untrack lists the routes that are done with it (it resolved).
	Untrack []string
}

// SuppressedMaintenance is the reason recorded for a raise inside a
// maintenance window.
const SuppressedMaintenance = "the device is in a maintenance window"

// Plan decides where alert change a goes, at now:
//
//   - a raise (raised, reopened, escalated) goes to every route whose
//     match takes the alert, on each of its channels; inside a
//     maintenance window (inMaintenance) it is recorded as suppressed,
//     never sent, not then and not after the window ends;
//   - an acknowledgement or resolution goes only to the routes that told
//     about the alert (told), and there to PagerDuty channels always, to
//     the others when the route's OnAck or OnResolve says so;
//   - a channel gets one message per change, from the first route (in
//     the file's order) that sends it there;
//   - a route's digest holds the message until the end of its window, and
//     its quiet hours until they end (unless the severity is excepted);
//     PagerDuty messages are never merged into a digest and skip its
//     window, since each is an incident's own event.
func Plan(o Options, a Alert, told func(route string) bool, inMaintenance bool, now time.Time) Decision {
	var d Decision
	given := map[string]bool{} // channels that already have this change
	for _, r := range o.Routes {
		switch {
		case a.Event.Raises():
			if !r.Match.Matches(a) {
				continue
			}
		case a.Event == KindAcknowledged || a.Event == KindResolved:
			if !told(r.Name) {
				continue
			}
		default:
			continue
		}
		switch {
		case a.Event == KindResolved:
			d.Untrack = append(d.Untrack, r.Name)
		case a.Event.Raises() && !inMaintenance:
			d.Track = append(d.Track, r.Name)
		}
		for _, name := range r.Channels {
			ch := o.Channels[name]
			if given[name] {
				continue
			}
			pd := ch.Type == TypePagerDuty
			switch a.Event {
			case KindAcknowledged:
				if !pd && !r.OnAck {
					continue
				}
			case KindResolved:
				if !pd && !r.OnResolve {
					continue
				}
			}
			given[name] = true
			dv := Delivery{Route: r.Name, Channel: name, Kind: a.Event}
			if a.Event.Raises() && inMaintenance {
				dv.Suppressed = SuppressedMaintenance
				d.Deliveries = append(d.Deliveries, dv)
				continue
			}
			dv.HoldUntil, dv.Merge = hold(r, pd, a.Severity, now)
			d.Deliveries = append(d.Deliveries, dv)
		}
	}
	return d
}

// hold says how long route r holds a message of this severity made at
// now, and whether held messages may merge into a digest.
func hold(r Route, pagerduty bool, severity string, now time.Time) (time.Time, bool) {
	if r.Digest > 0 && !pagerduty {
		return DigestEnd(r.Digest, now), true
	}
	if end, quiet := r.Quiet.Until(now); quiet && !r.Quiet.Excepted(severity) {
		return end, !pagerduty
	}
	return time.Time{}, false
}

// DigestEnd is the end of the digest window of length every that holds
// now: windows are aligned to the clock (UTC), so a 15m digest goes at
// :00, :15, :30 and :45.
func DigestEnd(every time.Duration, now time.Time) time.Time {
	return now.Truncate(every).Add(every)
}

// PlanRepeat decides where the reminder of alert a (still Active) goes on
// route r: every channel but PagerDuty (its incident is still open), held
// into the route's digest; during quiet hours it is not sent at all (the
// next check after they end sends it), so ok is false.
func PlanRepeat(o Options, r Route, a Alert, now time.Time) (ds []Delivery, ok bool) {
	if _, quiet := r.Quiet.Until(now); quiet && !r.Quiet.Excepted(a.Severity) {
		return nil, false
	}
	for _, name := range r.Channels {
		if o.Channels[name].Type == TypePagerDuty {
			continue
		}
		dv := Delivery{Route: r.Name, Channel: name, Kind: KindRepeat}
		if r.Digest > 0 {
			dv.HoldUntil, dv.Merge = DigestEnd(r.Digest, now), true
		}
		ds = append(ds, dv)
	}
	return ds, true
}

// RouteByName finds a route.
func (o Options) RouteByName(name string) (Route, bool) {
	i := slices.IndexFunc(o.Routes, func(r Route) bool { return r.Name == name })
	if i < 0 {
		return Route{}, false
	}
	return o.Routes[i], true
}
