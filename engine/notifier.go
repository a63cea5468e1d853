package engine

// The notifier: alert changes out to email, Teams, Slack, PagerDuty and
// webhooks (engine/notify says what each channel receives).
//
// Every alert change is recorded by the store in the transaction that
// makes it (the alert_events table, filled by triggers: a poll's batch,
// an ack from the CLI, another rmm process alike). A pass of the
// notifier then
//
//  1. routes the recorded changes: notify.Plan decides which routes and
//     channels get each one; the messages go into the durable outbox and
//     the changes are deleted, in one transaction, so each change is
//     routed once and a crash loses none;
//  2. releases held messages whose digest window or quiet hours ended,
//     several of one route and channel as one digest;
//  3. queues the repeats of alerts still Active after a route's repeat;
//  4. sends what is due, each delivery audited (notify.send); a failure
//     is retried with exponential backoff until the attempts are spent,
//     one that no retry can fix (a 400, a missing secret) fails at once;
//  5. prunes (hourly) outbox rows older than notifications.keep.
//
// A console or rmm serve runs passes in the background (RunNotifier):
// every few seconds, and at once after an alert change in this process.
// rmm poll --once and rmm report --mail run one pass before they exit.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rmmhq/rmm/creds"
	"github.com/rmmhq/rmm/engine/notify"
	"github.com/rmmhq/rmm/store"
)

// How the notifier paces itself.
const (
	notifyTick   = 5 * time.Second // a pass at least this often
	notifyLease  = 2 * time.Minute // a claimed message is another notifier's after this
	notifyBatch  = 500             // alert events routed per transaction
	notifySends  = 50              // messages sent per pass
	notifyPrune  = time.Hour       // outbox pruning
	notifyMinGap = 50 * time.Millisecond
)

// NotifySetup is what the notifier needs beyond the engine: the channels
// and routes, where secrets come from, and the User-Agent it sends.
type NotifySetup struct {
	Options   notify.Options
	Secrets   notify.Secrets // nil: channels that need a secret fail
	UserAgent string
}

// notifier is the engine's notification state. The engine holds one.
type notifier struct {
	mu        sync.RWMutex
	opts      notify.Options
	sender    *notify.Sender
	wake      chan struct{}
	lastPrune time.Time
	passMu    sync.Mutex // one pass at a time in this process
	now       func() time.Time
}

func newNotifier() *notifier {
	return &notifier{wake: make(chan struct{}, 1), now: time.Now,
		sender: &notify.Sender{Secrets: noSecrets{}}}
}

// noSecrets answers that no secret is stored.
type noSecrets struct{}

func (noSecrets) Secret(context.Context, string) (string, string, error) {
	return "", "", fmt.Errorf("no credentials store is open: %w", notify.ErrNoSecret)
}

// SetNotify applies the notifications setup (at start and on a config
// reload). Messages already in the outbox go out under the new channels;
// a message whose channel is gone fails.
func (e *Engine) SetNotify(s NotifySetup) error {
	o, err := s.Options.WithDefaults()
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	sec := s.Secrets
	if sec == nil {
		sec = noSecrets{}
	}
	n := e.notify
	n.mu.Lock()
	n.opts = o
	n.sender = &notify.Sender{Secrets: sec, UserAgent: s.UserAgent, Now: n.now}
	n.mu.Unlock()
	e.wakeNotifier()
	return nil
}

// SetNotifyOptions applies new channels and routes (a config reload),
// keeping where secrets come from.
func (e *Engine) SetNotifyOptions(o notify.Options) error {
	o, err := o.WithDefaults()
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	n := e.notify
	n.mu.Lock()
	n.opts = o
	n.mu.Unlock()
	e.wakeNotifier()
	return nil
}

// NotifyOptions returns the notifications setup in effect.
func (e *Engine) NotifyOptions() notify.Options {
	e.notify.mu.RLock()
	defer e.notify.mu.RUnlock()
	return e.notify.opts
}

func (n *notifier) current() (notify.Options, *notify.Sender) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.opts, n.sender
}

// wakeNotifier asks for a pass soon (after an alert change here).
func (e *Engine) wakeNotifier() {
	select {
	case e.notify.wake <- struct{}{}:
	default:
	}
}

// RunNotifier runs notifier passes until ctx ends: every few seconds, and
// soon after each alert change this engine makes. A pass that fails is
// logged and the next one tries again.
func (e *Engine) RunNotifier(ctx context.Context) error {
	t := time.NewTicker(notifyTick)
	defer t.Stop()
	for {
		if _, err := e.NotifyPass(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("notifications pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-e.notify.wake:
			// Let a burst of changes (one sweep's) settle into one pass.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(notifyMinGap):
			}
		}
	}
}

// NotifyPassResult counts what one pass did.
type NotifyPassResult struct {
	Routed     int // alert changes routed
	Stale      int // alert changes too old to send (notifications.max_age)
	Queued     int // messages put in the outbox
	Suppressed int // messages recorded and not sent (maintenance)
	Released   int // held messages released
	Repeats    int // repeats queued
	Sent       int
	Retrying   int
	Failed     int
}

// NotifyPass runs one notifier pass now (see the file comment).
func (e *Engine) NotifyPass(ctx context.Context) (NotifyPassResult, error) {
	n := e.notify
	n.passMu.Lock()
	defer n.passMu.Unlock()
	var res NotifyPassResult
	ctx = context.WithoutCancel(ctx) // a started pass finishes its writes
	var errs []error
	if err := e.routeEvents(ctx, &res); err != nil {
		errs = append(errs, err)
	}
	if err := e.releaseHeld(ctx, &res); err != nil {
		errs = append(errs, err)
	}
	if err := e.queueRepeats(ctx, &res); err != nil {
		errs = append(errs, err)
	}
	if err := e.sendDue(ctx, &res); err != nil {
		errs = append(errs, err)
	}
	now := n.now()
	if now.Sub(n.lastPrune) >= notifyPrune {
		opts, _ := n.current()
		maxAge := max(opts.MaxAge, notify.DefaultMaxAge)
		keep := opts.Keep
		if keep == 0 {
			keep = notify.DefaultKeep
		}
		if _, _, err := e.db.PruneNotify(ctx, now.Add(-keep), now.Add(-maxAge)); err != nil {
			errs = append(errs, err)
		} else {
			n.lastPrune = now
		}
	}
	return res, errors.Join(errs...)
}

// notifyAlert is what a message tells about alert a, as event kind at at.
func (e *Engine) notifyAlert(a store.Alert, kind notify.Kind, at time.Time) notify.Alert {
	out := notify.Alert{ID: a.ID, Event: kind, At: at, Hostname: a.Hostname, Type: a.Type, Instance: a.Instance,
		Severity: a.Severity, State: a.State, Message: a.Message, Count: a.Count, FirstSeen: a.FirstSeen,
		LastSeen: a.LastSeen, AckedBy: a.AckedBy, AckNote: a.AckNote, ResolvedBy: a.ResolvedBy,
		ResolveNote: a.ResolveNote, AutoResolved: a.AutoResolved}
	if d, ok := e.device(a.DeviceID); ok {
		out.Site, out.Groups, out.Tags = d.Site, slices.Clone(d.Groups), slices.Clone(d.Tags)
	}
	return out
}

// inMaintenance reports whether a maintenance window covers the alert's
// device at at.
func (e *Engine) inMaintenance(a notify.Alert, at time.Time) bool {
	if e.alerts == nil || a.Hostname == "" {
		return false
	}
	return e.alerts.options().inMaintenance(a.Hostname, a.Groups, at)
}

func (e *Engine) routeEvents(ctx context.Context, res *NotifyPassResult) error {
	opts, _ := e.notify.current()
	for {
		evs, err := e.db.AlertEvents(ctx, notifyBatch)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		now := e.notify.now()
		r := store.Routing{At: now}
		var counts NotifyPassResult
		ids := make([]int64, 0, len(evs))
		for _, ev := range evs {
			ids = append(ids, ev.AlertID)
		}
		told, err := e.db.NotifiedRoutes(ctx, ids)
		if err != nil {
			return err
		}
		tracked := map[store.SentKey]bool{} // this batch's changes to told
		isTold := func(alertID int64) func(string) bool {
			return func(route string) bool {
				k := store.SentKey{Route: route, AlertID: alertID}
				if v, ok := tracked[k]; ok {
					return v
				}
				return slices.Contains(told[alertID], route)
			}
		}
		for _, ev := range evs {
			r.Events = append(r.Events, ev.ID)
			if !opts.Enabled() {
				continue
			}
			if now.Sub(ev.At) > opts.MaxAge {
				counts.Stale++
				continue
			}
			a, err := e.db.GetAlert(ctx, ev.AlertID)
			if errors.Is(err, store.ErrNotFound) {
				continue // its device was removed meanwhile
			}
			if err != nil {
				return err
			}
			kind, err := notify.ParseKind(ev.Kind)
			if err != nil {
				continue
			}
			na := e.notifyAlert(a, kind, ev.At)
			dec := notify.Plan(opts, na, isTold(a.ID), e.inMaintenance(na, ev.At), now)
			counts.Routed++
			for _, route := range dec.Track {
				k := store.SentKey{Route: route, AlertID: a.ID}
				tracked[k] = true
				r.Track = append(r.Track, k)
			}
			for _, route := range dec.Untrack {
				k := store.SentKey{Route: route, AlertID: a.ID}
				tracked[k] = false
				r.Untrack = append(r.Untrack, k)
			}
			for _, d := range dec.Deliveries {
				m, err := outboxMessage(opts, d, na, now)
				if err != nil {
					return err
				}
				if m.State == store.OutboxSuppressed {
					counts.Suppressed++
				} else {
					counts.Queued++
				}
				r.Messages = append(r.Messages, m)
			}
		}
		if _, err := e.db.ApplyRouting(ctx, r); err != nil {
			if errors.Is(err, store.ErrRouted) {
				continue // another notifier took them: read again
			}
			return err
		}
		res.Routed += counts.Routed
		res.Stale += counts.Stale
		res.Queued += counts.Queued
		res.Suppressed += counts.Suppressed
		if counts.Stale > 0 {
			e.log.Warn("alert changes too old to notify", "count", counts.Stale, "max_age", opts.MaxAge)
		}
		if len(evs) < notifyBatch {
			return nil
		}
	}
}

// outboxMessage is the outbox row of delivery d of alert a.
func outboxMessage(o notify.Options, d notify.Delivery, a notify.Alert, now time.Time) (store.OutboxMessage, error) {
	msg := notify.Message{Kind: d.Kind, Route: d.Route, Org: o.Org, At: a.At, Alerts: []notify.Alert{a}}
	payload, err := json.Marshal(msg)
	if err != nil {
		return store.OutboxMessage{}, fmt.Errorf("encode message: %w", err)
	}
	m := store.OutboxMessage{Route: d.Route, Channel: d.Channel, Kind: string(d.Kind), AlertID: a.ID, Payload: payload,
		State: store.OutboxPending, NotBefore: now}
	switch {
	case d.Suppressed != "":
		m.State, m.LastError = store.OutboxSuppressed, d.Suppressed
	case !d.HoldUntil.IsZero():
		m.State, m.NotBefore, m.Merge = store.OutboxHeld, d.HoldUntil, d.Merge
	}
	return m, nil
}

// releaseHeld releases the held messages that are due: alone, or several
// of one route and channel as one digest. A raise whose device is now in
// a maintenance window is suppressed, not sent after it.
func (e *Engine) releaseHeld(ctx context.Context, res *NotifyPassResult) error {
	opts, _ := e.notify.current()
	now := e.notify.now()
	rows, err := e.db.DueHeld(ctx, now, 5000)
	if err != nil || len(rows) == 0 {
		return err
	}
	type key struct{ route, channel string }
	groups := map[key][]store.OutboxRow{}
	var order []key
	for _, r := range rows {
		k := key{r.Route, r.Channel}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	for _, k := range order {
		var (
			keep   []store.OutboxRow
			alerts []notify.Alert
			quiet  []int64
		)
		for _, r := range groups[k] {
			var m notify.Message
			if err := json.Unmarshal(r.Payload, &m); err != nil {
				return fmt.Errorf("outbox message %d: %w", r.ID, err)
			}
			if len(m.Alerts) == 1 && m.Alerts[0].Event.Raises() && e.inMaintenance(m.Alerts[0], now) {
				quiet = append(quiet, r.ID)
				continue
			}
			keep = append(keep, r)
			alerts = append(alerts, m.Alerts...)
		}
		if len(quiet) > 0 {
			if err := e.db.SuppressHeld(ctx, quiet, notify.SuppressedMaintenance); err != nil {
				return err
			}
			res.Suppressed += len(quiet)
		}
		if len(keep) == 0 {
			continue
		}
		ids := make([]int64, len(keep))
		merge := len(keep) > 1
		for i, r := range keep {
			ids[i] = r.ID
			merge = merge && r.Merge
		}
		if !merge {
			if err := e.db.ReleaseHeld(ctx, ids, nil, now); err != nil {
				return err
			}
			res.Released += len(ids)
			continue
		}
		digest := notify.Message{Kind: notify.KindDigest, Route: k.route, Org: opts.Org, At: now, Alerts: alerts}
		payload, err := json.Marshal(digest)
		if err != nil {
			return fmt.Errorf("encode digest: %w", err)
		}
		if err := e.db.ReleaseHeld(ctx, ids, &store.OutboxMessage{Route: k.route, Channel: k.channel,
			Kind: string(notify.KindDigest), Payload: payload}, now); err != nil {
			return err
		}
		res.Released += len(ids)
	}
	return nil
}

// queueRepeats queues a repeat of each alert still Active a route's
// repeat interval after the route last told about it.
func (e *Engine) queueRepeats(ctx context.Context, res *NotifyPassResult) error {
	opts, _ := e.notify.current()
	now := e.notify.now()
	for _, route := range opts.Routes {
		if route.Repeat <= 0 {
			continue
		}
		ids, err := e.db.RepeatDue(ctx, route.Name, now.Add(-route.Repeat), 200)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			continue
		}
		r := store.Routing{At: now}
		for _, id := range ids {
			a, err := e.db.GetAlert(ctx, id)
			if err != nil {
				continue // gone meanwhile; pruned later
			}
			na := e.notifyAlert(a, notify.KindRepeat, now)
			if e.inMaintenance(na, now) {
				continue
			}
			ds, ok := notify.PlanRepeat(opts, route, na, now)
			if !ok {
				continue
			}
			for _, d := range ds {
				m, err := outboxMessage(opts, d, na, now)
				if err != nil {
					return err
				}
				r.Messages = append(r.Messages, m)
			}
			r.Touch = append(r.Touch, store.SentKey{Route: route.Name, AlertID: id})
			res.Repeats++
		}
		if _, err := e.db.ApplyRouting(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// sendDue sends the messages that are due.
func (e *Engine) sendDue(ctx context.Context, res *NotifyPassResult) error {
	opts, sender := e.notify.current()
	now := e.notify.now()
	rows, err := e.db.ClaimOutbox(ctx, now, notifyLease, notifySends)
	if err != nil {
		return err
	}
	for _, row := range rows {
		out := e.deliver(ctx, opts, sender, row)
		switch {
		case out.Sent:
			res.Sent++
		case !out.Retry.IsZero():
			res.Retrying++
		default:
			res.Failed++
		}
	}
	return nil
}

// deliver sends one claimed outbox message and records (and audits) how
// it went.
func (e *Engine) deliver(ctx context.Context, opts notify.Options, sender *notify.Sender, row store.OutboxRow) store.OutboxOutcome {
	attempt := row.Attempts + 1
	out := store.OutboxOutcome{}
	var m notify.Message
	err := json.Unmarshal(row.Payload, &m)
	ch, ok := opts.Channels[row.Channel]
	switch {
	case err != nil:
		err = &notify.SendError{Channel: row.Channel, Permanent: true, Err: fmt.Errorf("unreadable message: %w", err)}
	case !ok:
		err = &notify.SendError{Channel: row.Channel, Permanent: true, Err: errors.New("no such channel in the configuration (removed?)")}
	default:
		m.Delivery = row.ID
		err = sender.Send(ctx, ch, m)
	}
	out.At = e.notify.now()
	switch {
	case err == nil:
		out.Sent = true
	case !notify.IsPermanent(err) && attempt < opts.Attempts:
		out.Err = err.Error()
		out.Retry = out.At.Add(opts.BackoffAfter(attempt))
	default:
		out.Err = err.Error()
	}
	if ferr := e.db.FinishOutbox(ctx, row.ID, out); ferr != nil {
		e.log.Error("outbox not updated", "id", row.ID, "err", ferr)
	}
	e.auditSend(ctx, row, attempt, out)
	switch {
	case out.Sent:
		e.log.Info("notification sent", "channel", row.Channel, "route", row.Route, "kind", row.Kind, "alert", row.AlertID, "id", row.ID)
	case !out.Retry.IsZero():
		e.log.Warn("notification failed, will retry", "channel", row.Channel, "route", row.Route, "id", row.ID,
			"attempt", attempt, "retry_at", out.Retry.UTC().Format(time.RFC3339), "err", out.Err)
	default:
		e.log.Error("notification failed", "channel", row.Channel, "route", row.Route, "id", row.ID, "attempt", attempt, "err", out.Err)
	}
	return out
}

// auditSend writes the audit row of one delivery attempt.
func (e *Engine) auditSend(ctx context.Context, row store.OutboxRow, attempt int, out store.OutboxOutcome) {
	result := store.AuditSuccess
	details := map[string]any{"outbox_id": row.ID, "route": row.Route, "kind": row.Kind, "attempt": attempt}
	if row.AlertID != 0 {
		details["alert"] = row.AlertID
	}
	if !out.Sent {
		result = store.AuditFailure
		details["error"] = out.Err
		if !out.Retry.IsZero() {
			details["retry_at"] = out.Retry.UTC().Format(time.RFC3339)
		}
	}
	if _, err := e.db.AppendAudit(context.WithoutCancel(ctx), store.AuditEntry{
		At: out.At.UTC(), User: NotifierUser, Role: RoleAdmin.String(), Via: string(ViaSystem),
		Action: "notify.send", Targets: []string{"channel " + row.Channel}, Result: result, Details: details,
	}); err != nil {
		e.log.Error("audit row of a notification not written", "id", row.ID, "err", err)
	}
}

// NotifierUser is the audit log's user of notifications.
const NotifierUser = "rmm-notify"

// deliverNow sends messages just queued by this process (a test, a
// mailed report) at once, and returns how each went.
func (e *Engine) deliverNow(ctx context.Context, ids []int64) (map[int64]store.OutboxOutcome, error) {
	opts, sender := e.notify.current()
	now := e.notify.now()
	rows, err := e.db.ClaimOutboxIDs(ctx, ids, now, notifyLease)
	if err != nil {
		return nil, err
	}
	out := map[int64]store.OutboxOutcome{}
	for _, row := range rows {
		out[row.ID] = e.deliver(ctx, opts, sender, row)
	}
	return out, nil
}

// OutboxEntry is one outbox message as front ends show it.
type OutboxEntry struct {
	ID        int64     `json:"id"`
	Route     string    `json:"route"`
	Channel   string    `json:"channel"`
	Kind      string    `json:"kind"`
	AlertID   int64     `json:"alert_id,omitempty"`
	State     string    `json:"state"`
	Subject   string    `json:"subject"`
	CreatedAt time.Time `json:"created_at"`
	NextAt    time.Time `json:"next_at"` // held: release; pending: next attempt
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	SentAt    time.Time `json:"sent_at,omitzero"`
	MergedTo  int64     `json:"merged_into,omitempty"`
}

// OutboxView is the outbox as rmm notify outbox and the console's
// notifications view show it: counts by state and the newest messages.
type OutboxView struct {
	Counts   map[string]int `json:"counts"`
	Messages []OutboxEntry  `json:"messages"`
	Channels []string       `json:"channels"` // configured, sorted
	Routes   []string       `json:"routes"`   // configured, in order
}

// ListOutbox reads the outbox: counts by state and the newest messages
// (of some states, of one channel). Viewers may look: it holds no secret.
type ListOutbox struct {
	States  []string
	Channel string
	Limit   int // 0: 200
}

// Action implements Request.
func (ListOutbox) Action() string { return "notify.outbox" }

// Permission implements Request.
func (ListOutbox) Permission() Permission { return PermFleetView }

// Mutating implements Request.
func (ListOutbox) Mutating() bool { return false }

// Targets implements Request.
func (ListOutbox) Targets() []string { return nil }

// Details implements Request.
func (r ListOutbox) Details() map[string]any {
	return map[string]any{"states": r.States, "channel": r.Channel, "limit": r.Limit}
}

func (r ListOutbox) run(ctx context.Context, e *Engine, _ Identity) (OutboxView, error) {
	for _, s := range r.States {
		switch s {
		case store.OutboxHeld, store.OutboxPending, store.OutboxSending, store.OutboxSent, store.OutboxFailed,
			store.OutboxSuppressed, store.OutboxMerged:
		default:
			return OutboxView{}, fmt.Errorf("outbox state %q is not one of held, pending, sending, sent, failed, suppressed, merged", s)
		}
	}
	limit := r.Limit
	if limit <= 0 {
		limit = 200
	}
	counts, err := e.db.OutboxCounts(ctx)
	if err != nil {
		return OutboxView{}, err
	}
	rows, err := e.db.ListOutbox(ctx, store.OutboxFilter{States: r.States, Channel: r.Channel, Limit: limit})
	if err != nil {
		return OutboxView{}, err
	}
	v := OutboxView{Counts: counts, Messages: make([]OutboxEntry, 0, len(rows))}
	for _, row := range rows {
		var m notify.Message
		subject := row.Kind
		if json.Unmarshal(row.Payload, &m) == nil {
			subject = m.Subject()
		}
		v.Messages = append(v.Messages, OutboxEntry{ID: row.ID, Route: row.Route, Channel: row.Channel, Kind: row.Kind,
			AlertID: row.AlertID, State: row.State, Subject: subject, CreatedAt: row.CreatedAt, NextAt: row.NotBefore,
			Attempts: row.Attempts, LastError: row.LastError, SentAt: row.SentAt, MergedTo: row.MergedInto})
	}
	opts := e.NotifyOptions()
	for name := range opts.Channels {
		v.Channels = append(v.Channels, name)
	}
	slices.Sort(v.Channels)
	for _, rt := range opts.Routes {
		v.Routes = append(v.Routes, rt.Name)
	}
	return v, nil
}

// TestChannel sends a test message on one channel now, through the
// outbox (so it is listed and audited like every send), and says how it
// went. PagerDuty receives a trigger of severity info and its resolve.
type TestChannel struct {
	Channel string
	Text    string // "": a standard line naming the sender
}

// TestResult is how a test message went.
type TestResult struct {
	Channel  string `json:"channel"`
	OutboxID int64  `json:"outbox_id"`
	Sent     bool   `json:"sent"`
	Error    string `json:"error,omitempty"`
}

// Action implements Request.
func (TestChannel) Action() string { return "notify.test" }

// Permission implements Request: it sends a message, as alerts do.
func (TestChannel) Permission() Permission { return PermAlertsEdit }

// Mutating implements Request: it sends something.
func (TestChannel) Mutating() bool { return true }

// Targets implements Request.
func (r TestChannel) Targets() []string { return []string{"channel " + r.Channel} }

// Details implements Request.
func (r TestChannel) Details() map[string]any { return map[string]any{"channel": r.Channel} }

func (r TestChannel) run(ctx context.Context, e *Engine, id Identity) (TestResult, error) {
	opts, _ := e.notify.current()
	if _, ok := opts.Channels[r.Channel]; !ok {
		return TestResult{Channel: r.Channel}, fmt.Errorf("notify test: no channel %q (configured: %s)", r.Channel, channelList(opts))
	}
	now := e.notify.now()
	text := r.Text
	if text == "" {
		text = fmt.Sprintf("This is a test message from rmm, sent by %s with rmm notify test at %s. If you can read it, channel %s works.",
			id.User, now.UTC().Format("2006-01-02 15:04:05 UTC"), r.Channel)
	}
	msg := notify.Message{Kind: notify.KindTest, Org: opts.Org, At: now, Title: "Test message to channel " + r.Channel, Text: text}
	payload, err := json.Marshal(msg)
	if err != nil {
		return TestResult{}, err
	}
	ids, err := e.db.AddOutbox(ctx, []store.OutboxMessage{{Channel: r.Channel, Kind: string(notify.KindTest), State: store.OutboxPending,
		Payload: payload, NotBefore: now}}, now)
	if err != nil {
		return TestResult{}, err
	}
	res := TestResult{Channel: r.Channel, OutboxID: ids[0]}
	outs, err := e.deliverNow(ctx, ids)
	if err != nil {
		return res, err
	}
	o, ok := outs[ids[0]]
	switch {
	case !ok:
		res.Error = "another rmm process took the message first; see rmm notify outbox"
	case o.Sent:
		res.Sent = true
	default:
		res.Error = o.Err
		if !o.Retry.IsZero() {
			res.Error += " (it stays in the outbox and is retried at " + o.Retry.UTC().Format(time.RFC3339) + ")"
		}
		return res, fmt.Errorf("notify test: %s", o.Err)
	}
	return res, nil
}

func channelList(o notify.Options) string {
	if len(o.Channels) == 0 {
		return "none; see notifications.channels in the README"
	}
	names := make([]string, 0, len(o.Channels))
	for n := range o.Channels {
		names = append(names, n)
	}
	slices.Sort(names)
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

// RetryOutbox puts failed messages back in the queue: the ids given, or
// every failed one.
type RetryOutbox struct{ IDs []int64 }

// Action implements Request.
func (RetryOutbox) Action() string { return "notify.retry" }

// Permission implements Request.
func (RetryOutbox) Permission() Permission { return PermAlertsEdit }

// Mutating implements Request.
func (RetryOutbox) Mutating() bool { return true }

// Targets implements Request.
func (r RetryOutbox) Targets() []string {
	if len(r.IDs) == 0 {
		return []string{"all failed messages"}
	}
	out := make([]string, 0, len(r.IDs))
	for _, id := range r.IDs {
		out = append(out, "message "+strconv.FormatInt(id, 10))
	}
	return capTargets(out)
}

// Details implements Request.
func (r RetryOutbox) Details() map[string]any { return map[string]any{"ids": r.IDs} }

func (r RetryOutbox) run(ctx context.Context, e *Engine, _ Identity) (int, error) {
	n, err := e.db.RetryOutbox(ctx, r.IDs, e.notify.now())
	if err == nil && n > 0 {
		e.wakeNotifier()
	}
	return n, err
}

// CredentialSecrets reads the channels' secrets from a credentials store:
// the credential notify.SecretPrefix + the channel's name, its user and
// its secret.
func CredentialSecrets(s creds.Store) notify.Secrets { return credSecrets{s} }

type credSecrets struct{ s creds.Store }

func (c credSecrets) Secret(ctx context.Context, name string) (string, string, error) {
	if c.s == nil {
		return noSecrets{}.Secret(ctx, name)
	}
	cr, err := c.s.Get(ctx, name)
	if errors.Is(err, creds.ErrNotFound) {
		return "", "", fmt.Errorf("%s: %w", name, notify.ErrNoSecret)
	}
	if err != nil {
		return "", "", err
	}
	defer cr.Secret.Wipe()
	return cr.User, cr.Secret.Reveal(), nil
}

// FlushNotifications runs one notifier pass now (rmm notify flush): route
// the alert changes recorded so far, release what is due, send.
type FlushNotifications struct{}

// Action implements Request.
func (FlushNotifications) Action() string { return "notify.flush" }

// Permission implements Request.
func (FlushNotifications) Permission() Permission { return PermAlertsEdit }

// Mutating implements Request: it sends messages.
func (FlushNotifications) Mutating() bool { return true }

// Targets implements Request.
func (FlushNotifications) Targets() []string { return []string{"outbox"} }

// Details implements Request.
func (FlushNotifications) Details() map[string]any { return nil }

func (FlushNotifications) run(ctx context.Context, e *Engine, _ Identity) (NotifyPassResult, error) {
	if err := e.writer.Flush(ctx); err != nil {
		return NotifyPassResult{}, fmt.Errorf("notify: flush: %w", err)
	}
	return e.NotifyPass(ctx)
}
