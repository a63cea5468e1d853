package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Outbox states (notify_outbox.state).
const (
	OutboxHeld       = "held"       // waiting for a digest window or the end of quiet hours
	OutboxPending    = "pending"    // to send at not_before
	OutboxSending    = "sending"    // claimed by a notifier until its lease ends
	OutboxSent       = "sent"       // delivered
	OutboxFailed     = "failed"     // given up after its attempts, or refused for good
	OutboxSuppressed = "suppressed" // recorded, never sent (a maintenance window)
	OutboxMerged     = "merged"     // went out inside a digest (MergedInto)
)

// ErrRouted is returned by ApplyRouting when another notifier routed the
// same alert events first; nothing was written.
var ErrRouted = errors.New("alert events already routed")

// AlertEvent is one alert lifecycle change, recorded by the database's
// triggers in the transaction that made it (migration 0010).
type AlertEvent struct {
	ID      int64
	AlertID int64
	Kind    string // raised, reopened, escalated, acknowledged, resolved
	At      time.Time
}

// AlertEvents returns up to limit alert events not yet routed, oldest
// first.
func (db *DB) AlertEvents(ctx context.Context, limit int) ([]AlertEvent, error) {
	return queryAll(ctx, db, "alert events", func(r rowScanner) (AlertEvent, error) {
		var (
			e  AlertEvent
			at int64
		)
		err := r.Scan(&e.ID, &e.AlertID, &e.Kind, &at)
		e.At = time.UnixMilli(at).UTC()
		return e, err
	}, `SELECT id, alert_id, kind, at FROM alert_events ORDER BY id LIMIT ?`, limit)
}

// OutboxMessage is a message to put in the outbox.
type OutboxMessage struct {
	Route     string
	Channel   string
	Kind      string
	AlertID   int64  // 0: none
	State     string // OutboxHeld, OutboxPending or OutboxSuppressed
	Merge     bool   // held: may go out inside a digest
	Payload   []byte // the message as JSON; never a secret
	NotBefore time.Time
	LastError string // suppressed: why
}

// SentKey names an alert a route told about.
type SentKey struct {
	Route   string
	AlertID int64
}

// Routing is what the notifier decided for a batch of alert events (or a
// repeat pass), written in one transaction by ApplyRouting.
type Routing struct {
	Events   []int64 // alert events routed: deleted
	Messages []OutboxMessage
	Track    []SentKey // routes that now tell about an alert (first_at, last_at = At)
	Touch    []SentKey // routes that told about an alert again (last_at = At)
	Untrack  []SentKey // routes done with an alert
	At       time.Time
}

// ApplyRouting writes r in one transaction. When any of r.Events is gone
// (another notifier routed it), nothing is written and the error wraps
// ErrRouted. It returns the ids of the messages, in r.Messages' order.
func (db *DB) ApplyRouting(ctx context.Context, r Routing) ([]int64, error) {
	var ids []int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, id := range r.Events {
			res, err := tx.ExecContext(ctx, `DELETE FROM alert_events WHERE id = ?`, id)
			if err != nil {
				return fmt.Errorf("delete alert event %d: %w", id, err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("alert event %d: %w", id, ErrRouted)
			}
		}
		var err error
		if ids, err = insertOutbox(ctx, tx, r.Messages, r.At); err != nil {
			return err
		}
		at := toMS(r.At)
		for _, k := range r.Track {
			if _, err := tx.ExecContext(ctx, `INSERT INTO notify_sent (route, alert_id, first_at, last_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (route, alert_id) DO UPDATE SET last_at = excluded.last_at`, k.Route, k.AlertID, at, at); err != nil {
				return fmt.Errorf("track alert %d on route %s: %w", k.AlertID, k.Route, err)
			}
		}
		for _, k := range r.Touch {
			if _, err := tx.ExecContext(ctx, `UPDATE notify_sent SET last_at = ? WHERE route = ? AND alert_id = ?`, at, k.Route, k.AlertID); err != nil {
				return fmt.Errorf("touch alert %d on route %s: %w", k.AlertID, k.Route, err)
			}
		}
		for _, k := range r.Untrack {
			if _, err := tx.ExecContext(ctx, `DELETE FROM notify_sent WHERE route = ? AND alert_id = ?`, k.Route, k.AlertID); err != nil {
				return fmt.Errorf("untrack alert %d on route %s: %w", k.AlertID, k.Route, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("route alert events: %w", err)
	}
	return ids, nil
}

func insertOutbox(ctx context.Context, tx *sql.Tx, ms []OutboxMessage, at time.Time) ([]int64, error) {
	ids := make([]int64, 0, len(ms))
	for _, m := range ms {
		switch m.State {
		case OutboxHeld, OutboxPending, OutboxSuppressed, OutboxSending:
		default:
			return nil, fmt.Errorf("outbox message for %s: state %q is not held, pending, sending or suppressed", m.Channel, m.State)
		}
		nb := m.NotBefore
		if nb.IsZero() {
			nb = at
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO notify_outbox (route, channel, kind, alert_id, state, merge, payload,
			created_at, not_before, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			m.Route, m.Channel, m.Kind, nullDevice(m.AlertID), m.State, m.Merge, string(m.Payload), toMS(at), toMS(nb),
			m.LastError).Scan(&id); err != nil {
			return nil, fmt.Errorf("queue message for %s: %w", m.Channel, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// AddOutbox puts messages in the outbox (rmm notify test, a mailed
// report) and returns their ids.
func (db *DB) AddOutbox(ctx context.Context, ms []OutboxMessage, at time.Time) ([]int64, error) {
	var ids []int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		ids, err = insertOutbox(ctx, tx, ms, at)
		return err
	})
	return ids, err
}

// NotifiedRoutes returns, for each of the alerts, the routes that told
// about it and have not yet sent its resolution.
func (db *DB) NotifiedRoutes(ctx context.Context, alertIDs []int64) (map[int64][]string, error) {
	out := map[int64][]string{}
	for _, id := range alertIDs {
		rows, err := db.reader.QueryContext(ctx, `SELECT route FROM notify_sent WHERE alert_id = ? ORDER BY route`, id)
		if err != nil {
			return nil, fmt.Errorf("routes of alert %d: %w", id, err)
		}
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				rows.Close()
				return nil, fmt.Errorf("routes of alert %d: %w", id, err)
			}
			out[id] = append(out[id], r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("routes of alert %d: %w", id, err)
		}
	}
	return out, nil
}

// RepeatDue returns the alerts route told about that are still Active
// (neither acknowledged nor resolved) and were last told about at or
// before before, oldest first.
func (db *DB) RepeatDue(ctx context.Context, route string, before time.Time, limit int) ([]int64, error) {
	return queryAll(ctx, db, "repeats", func(r rowScanner) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	}, `SELECT s.alert_id FROM notify_sent s JOIN alerts a ON a.id = s.alert_id AND a.state = 'Open'
		WHERE s.route = ? AND s.last_at <= ? ORDER BY s.last_at LIMIT ?`, route, toMS(before), limit)
}

// OutboxRow is one outbox message as stored.
type OutboxRow struct {
	ID         int64
	Route      string
	Channel    string
	Kind       string
	AlertID    int64
	State      string
	Merge      bool
	Payload    []byte
	CreatedAt  time.Time
	NotBefore  time.Time
	Attempts   int
	LastError  string
	SentAt     time.Time // zero until sent
	MergedInto int64
}

const selectOutbox = `SELECT id, route, channel, kind, coalesce(alert_id, 0), state, merge, payload, created_at, not_before,
	attempts, last_error, sent_at, coalesce(merged_into, 0) FROM notify_outbox`

func scanOutbox(r rowScanner) (OutboxRow, error) {
	var (
		o                  OutboxRow
		payload            string
		created, notBefore int64
		sent               sql.NullInt64
	)
	if err := r.Scan(&o.ID, &o.Route, &o.Channel, &o.Kind, &o.AlertID, &o.State, &o.Merge, &payload, &created, &notBefore,
		&o.Attempts, &o.LastError, &sent, &o.MergedInto); err != nil {
		return o, err
	}
	o.Payload = []byte(payload)
	o.CreatedAt, o.NotBefore, o.SentAt = time.UnixMilli(created).UTC(), time.UnixMilli(notBefore).UTC(), fromMS(sent)
	return o, nil
}

// ClaimOutbox claims up to limit messages due at now (pending and due,
// or sending with a lease that ran out: their notifier stopped) for
// lease, and returns them oldest first. A claimed message is this
// caller's to finish (FinishOutbox) before the lease ends.
func (db *DB) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]OutboxRow, error) {
	return db.claimOutbox(ctx, `SELECT id FROM notify_outbox WHERE (state = 'pending' AND not_before <= ?)
		OR (state = 'sending' AND lease_until < ?) ORDER BY id LIMIT ?`, toMS(now.Add(lease)), toMS(now), toMS(now), limit)
}

// ClaimOutboxIDs claims the pending messages among ids, due or not (a
// test or a report a command sends at once), for lease.
func (db *DB) ClaimOutboxIDs(ctx context.Context, ids []int64, now time.Time, lease time.Duration) ([]OutboxRow, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := []any{toMS(now.Add(lease))}
	for _, id := range ids {
		args = append(args, id)
	}
	return db.claimOutbox(ctx, `SELECT id FROM notify_outbox WHERE state = 'pending' AND id IN (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+`)`, args...)
}

// claimOutbox marks the rows that pick selects (its arguments follow the
// lease end in args) as sending, and returns them oldest first.
func (db *DB) claimOutbox(ctx context.Context, pick string, args ...any) ([]OutboxRow, error) {
	var out []OutboxRow
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE notify_outbox SET state = 'sending', lease_until = ?
			WHERE id IN (`+pick+`) RETURNING id`, args...)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			o, err := scanOutbox(tx.QueryRowContext(ctx, selectOutbox+` WHERE id = ?`, id))
			if err != nil {
				return err
			}
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	slices.SortFunc(out, func(a, b OutboxRow) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// OutboxOutcome is how one delivery went.
type OutboxOutcome struct {
	At    time.Time
	Sent  bool
	Err   string    // the failure, for the console
	Retry time.Time // not sent: try again then; zero: give up (failed)
}

// FinishOutbox records a delivery of message id: sent, to retry at
// o.Retry, or failed.
func (db *DB) FinishOutbox(ctx context.Context, id int64, o OutboxOutcome) error {
	var err error
	switch {
	case o.Sent:
		_, err = db.writer.ExecContext(ctx, `UPDATE notify_outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1,
			last_error = '', lease_until = NULL WHERE id = ?`, toMS(o.At), id)
	case !o.Retry.IsZero():
		_, err = db.writer.ExecContext(ctx, `UPDATE notify_outbox SET state = 'pending', not_before = ?, attempts = attempts + 1,
			last_error = ?, lease_until = NULL WHERE id = ?`, toMS(o.Retry), o.Err, id)
	default:
		_, err = db.writer.ExecContext(ctx, `UPDATE notify_outbox SET state = 'failed', attempts = attempts + 1,
			last_error = ?, lease_until = NULL WHERE id = ?`, o.Err, id)
	}
	if err != nil {
		return fmt.Errorf("outbox message %d: %w", id, err)
	}
	return nil
}

// DueHeld returns the held messages whose release time has come, by
// route and channel, oldest first.
func (db *DB) DueHeld(ctx context.Context, now time.Time, limit int) ([]OutboxRow, error) {
	return queryAll(ctx, db, "held messages", scanOutbox,
		selectOutbox+` WHERE state = 'held' AND not_before <= ? ORDER BY route, channel, id LIMIT ?`, toMS(now), limit)
}

// ReleaseHeld releases held messages: with digest nil each becomes
// pending; else digest is queued (pending) and they become merged into
// it. Messages no longer held (another notifier released them) are left
// alone; when none of ids is still held nothing is written.
func (db *DB) ReleaseHeld(ctx context.Context, ids []int64, digest *OutboxMessage, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
		args := make([]any, 0, len(ids)+2)
		if digest == nil {
			args = append(args, toMS(at))
			for _, id := range ids {
				args = append(args, id)
			}
			_, err := tx.ExecContext(ctx, `UPDATE notify_outbox SET state = 'pending', not_before = ? WHERE state = 'held' AND id IN (`+ph+`)`, args...)
			return err
		}
		for _, id := range ids {
			args = append(args, id)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM notify_outbox WHERE state = 'held' AND id IN (`+ph+`)`, args...).Scan(&n); err != nil {
			return err
		}
		if n != len(ids) {
			return nil // released meanwhile
		}
		d := *digest
		d.State = OutboxPending
		got, err := insertOutbox(ctx, tx, []OutboxMessage{d}, at)
		if err != nil {
			return err
		}
		args = append([]any{got[0]}, args...)
		_, err = tx.ExecContext(ctx, `UPDATE notify_outbox SET state = 'merged', merged_into = ? WHERE id IN (`+ph+`)`, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("release held messages: %w", err)
	}
	return nil
}

// SuppressHeld marks held messages suppressed, with why (their alert
// resolved before they went out, a maintenance window began).
func (db *DB) SuppressHeld(ctx context.Context, ids []int64, why string) error {
	for _, id := range ids {
		if _, err := db.writer.ExecContext(ctx, `UPDATE notify_outbox SET state = 'suppressed', last_error = ? WHERE id = ? AND state IN ('held', 'sending')`, why, id); err != nil {
			return fmt.Errorf("suppress message %d: %w", id, err)
		}
	}
	return nil
}

// OutboxFilter selects outbox rows. Zero fields select everything.
type OutboxFilter struct {
	States  []string // e.g. OutboxFailed
	Channel string
	Limit   int // newest first; 0: 500
}

// ListOutbox returns outbox rows, newest first.
func (db *DB) ListOutbox(ctx context.Context, f OutboxFilter) ([]OutboxRow, error) {
	var (
		where []string
		args  []any
	)
	if len(f.States) > 0 {
		where = append(where, "state IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.States)), ", ")+")")
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	if f.Channel != "" {
		where = append(where, "channel = ?")
		args = append(args, f.Channel)
	}
	q := selectOutbox
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 500
	}
	args = append(args, limit)
	return queryAll(ctx, db, "outbox", scanOutbox, q+" ORDER BY id DESC LIMIT ?", args...)
}

// OutboxCounts counts the outbox rows by state; every state has an entry.
func (db *DB) OutboxCounts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for _, s := range []string{OutboxHeld, OutboxPending, OutboxSending, OutboxSent, OutboxFailed, OutboxSuppressed, OutboxMerged} {
		out[s] = 0
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT state, count(*) FROM notify_outbox GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("outbox counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			s string
			n int
		)
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("outbox counts: %w", err)
		}
		out[s] = n
	}
	return out, rows.Err()
}

// RetryOutbox puts failed messages back to pending, due now: the ids
// given, or every failed one when ids is empty. It returns how many.
func (db *DB) RetryOutbox(ctx context.Context, ids []int64, now time.Time) (int, error) {
	q := `UPDATE notify_outbox SET state = 'pending', not_before = ?, attempts = 0 WHERE state = 'failed'`
	args := []any{toMS(now)}
	if len(ids) > 0 {
		q += " AND id IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")"
		for _, id := range ids {
			args = append(args, id)
		}
	}
	res, err := db.writer.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("retry outbox: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// PruneNotify removes what notifications no longer need: outbox rows in a
// final state (sent, failed, suppressed, merged) created before keep;
// alert events recorded before stale (no notifier ran in time; they are
// never sent); and the route bookkeeping of alerts that are resolved or
// gone and have no event left to route. It returns the outbox rows and events removed.
func (db *DB) PruneNotify(ctx context.Context, keep, stale time.Time) (outbox, events int64, err error) {
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM notify_outbox WHERE state IN ('sent', 'failed', 'suppressed', 'merged') AND created_at < ?`, toMS(keep))
		if err != nil {
			return err
		}
		outbox, _ = res.RowsAffected()
		if res, err = tx.ExecContext(ctx, `DELETE FROM alert_events WHERE at < ?`, toMS(stale)); err != nil {
			return err
		}
		events, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, `DELETE FROM notify_sent WHERE alert_id NOT IN (SELECT id FROM alerts WHERE state <> 'Resolved')
			AND alert_id NOT IN (SELECT alert_id FROM alert_events)`)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("prune notifications: %w", err)
	}
	return outbox, events, nil
}
