package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Alert states, in the words rmm shows. The alerts table stores Active as
// 'Open' and Acknowledged as 'Acked' (its words since 0001); this file is
// the only place that maps them.
const (
	AlertActive       = "Active"
	AlertAcknowledged = "Acknowledged"
	AlertResolved     = "Resolved"
)

// Alert severities, most urgent first.
const (
	SeverityCritical = "Critical"
	SeverityHigh     = "High"
	SeverityMedium   = "Medium"
	SeverityLow      = "Low"
	SeverityInfo     = "Info"
)

// ErrAlertState is wrapped when an alert is not in a state that allows the
// change asked for (acknowledging a resolved alert, resolving it twice).
var ErrAlertState = errors.New("alert state does not allow this")

// Alert is one stored alert.
type Alert struct {
	ID           int64
	DeviceID     int64  // 0 for an alert that concerns no single device
	Hostname     string // the device's hostname when read; "" for none
	Type         string // e.g. "cpu_high", "disk_used", "offline"
	Instance     string // e.g. "C:" for a volume; "" for device-wide alerts
	Severity     string // a Severity* constant
	State        string // AlertActive, AlertAcknowledged or AlertResolved
	Message      string
	Count        int // detections folded into this alert
	FirstSeen    time.Time
	LastSeen     time.Time
	AckedBy      string
	AckedAt      time.Time // zero when not acknowledged
	AckNote      string
	ResolvedBy   string    // "rmm" when AutoResolved
	ResolvedAt   time.Time // zero while unresolved
	ResolveNote  string
	AutoResolved bool
	SnoozedUntil time.Time // zero when never snoozed
	SnoozedBy    string
	SnoozeNote   string
}

// Key returns what identifies the alert's condition.
func (a Alert) Key() AlertKey {
	return AlertKey{DeviceID: a.DeviceID, Type: a.Type, Instance: a.Instance}
}

// AlertKey identifies a condition: at most one unresolved alert exists
// per key.
type AlertKey struct {
	DeviceID int64 // 0: no single device
	Type     string
	Instance string
}

// AlertDetection is one sighting of a condition.
type AlertDetection struct {
	Key      AlertKey
	Severity string
	Message  string
	At       time.Time
}

// AlertChange says what RecordAlert did.
type AlertChange int

// What RecordAlert did.
const (
	AlertInserted AlertChange = iota + 1 // a new alert
	AlertBumped                          // the unresolved alert's count and last seen went up
	AlertReopened                        // a recently resolved alert is active again
)

// String names the change for logs: inserted, bumped, reopened.
func (c AlertChange) String() string {
	switch c {
	case AlertInserted:
		return "inserted"
	case AlertBumped:
		return "bumped"
	case AlertReopened:
		return "reopened"
	}
	return "none"
}

// AlertFilter selects alerts. Zero fields select everything.
type AlertFilter struct {
	States   []string // AlertActive, AlertAcknowledged, AlertResolved; empty: all
	Severity string   // one severity; empty: all
	DeviceID int64    // one device; 0: all
	Limit    int      // at most this many, most urgent first; 0: no limit
}

func dbState(s string) (string, error) {
	switch s {
	case AlertActive:
		return "Open", nil
	case AlertAcknowledged:
		return "Acked", nil
	case AlertResolved:
		return "Resolved", nil
	}
	return "", fmt.Errorf("alert state %q is not one of %s, %s, %s", s, AlertActive, AlertAcknowledged, AlertResolved)
}

func stateFromDB(s string) string {
	switch s {
	case "Open":
		return AlertActive
	case "Acked":
		return AlertAcknowledged
	}
	return s
}

// checkSeverity refuses what the engine must not write; 'Warning' is only
// read (rows of schema 0001), as Medium.
func checkSeverity(s string) error {
	switch s {
	case SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityInfo:
		return nil
	}
	return fmt.Errorf("alert severity %q is not one of Critical, High, Medium, Low, Info", s)
}

// severityRank orders severities in SQL, most urgent first.
const severityRank = `CASE a.severity WHEN 'Critical' THEN 0 WHEN 'High' THEN 1 WHEN 'Medium' THEN 2
	WHEN 'Warning' THEN 2 WHEN 'Low' THEN 3 ELSE 4 END`

const selectAlert = `SELECT a.id, a.device_id, coalesce(d.hostname, ''), a.type, a.instance, a.severity, a.state,
	a.message, a.count, a.first_seen, a.last_seen, a.acked_by, a.acked_at, a.ack_note, a.resolved_by, a.resolved_at,
	a.resolve_note, a.auto_resolved, a.snoozed_until, a.snoozed_by, a.snooze_note
	FROM alerts a LEFT JOIN devices d ON d.id = a.device_id`

func scanAlert(r rowScanner) (Alert, error) {
	var (
		a                   Alert
		deviceID            sql.NullInt64
		first, last         int64
		ackedBy, resolvedBy sql.NullString
		ackedAt, resolvedAt sql.NullInt64
		snoozed             int64
	)
	if err := r.Scan(&a.ID, &deviceID, &a.Hostname, &a.Type, &a.Instance, &a.Severity, &a.State, &a.Message, &a.Count,
		&first, &last, &ackedBy, &ackedAt, &a.AckNote, &resolvedBy, &resolvedAt, &a.ResolveNote, &a.AutoResolved,
		&snoozed, &a.SnoozedBy, &a.SnoozeNote); err != nil {
		return Alert{}, err
	}
	if snoozed > 0 {
		a.SnoozedUntil = time.UnixMilli(snoozed).UTC()
	}
	a.DeviceID = deviceID.Int64
	a.State = stateFromDB(a.State)
	if a.Severity == "Warning" {
		a.Severity = SeverityMedium
	}
	a.FirstSeen, a.LastSeen = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
	a.AckedBy, a.AckedAt = ackedBy.String, fromMS(ackedAt)
	a.ResolvedBy, a.ResolvedAt = resolvedBy.String, fromMS(resolvedAt)
	return a, nil
}

func alertByID(ctx context.Context, q queryer, id int64) (Alert, error) {
	a, err := scanAlert(q.QueryRowContext(ctx, alertByIDSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Alert{}, fmt.Errorf("alert %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Alert{}, fmt.Errorf("alert %d: %w", id, err)
	}
	return a, nil
}

// nullDevice stores device 0 as NULL.
func nullDevice(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// The alert lifecycle's statements, shared by RecordAlert and
// AutoResolveAlert and by the Writer, which prepares them once.
const (
	bumpAlertSQL = `UPDATE alerts SET count = count + 1, last_seen = max(last_seen, ?),
		severity = ?, message = ?
		WHERE coalesce(device_id, 0) = ? AND type = ? AND instance = ? AND state <> 'Resolved' RETURNING id`
	recentlyResolvedSQL = `SELECT id FROM alerts WHERE device_id IS ? AND type = ? AND instance = ?
		AND state = 'Resolved' AND coalesce(resolved_at, last_seen) >= ?
		ORDER BY coalesce(resolved_at, last_seen) DESC, id DESC LIMIT 1`
	reopenAlertSQL = `UPDATE alerts SET state = 'Open', count = count + 1,
		last_seen = max(last_seen, ?), severity = ?, message = ?, acked_by = NULL, acked_at = NULL,
		ack_note = '', resolved_by = NULL, resolved_at = NULL, resolve_note = '', auto_resolved = 0
		WHERE id = ?`
	insertAlertSQL = `INSERT INTO alerts (device_id, type, instance, severity, state,
		message, count, first_seen, last_seen) VALUES (?, ?, ?, ?, 'Open', ?, 1, ?, ?) RETURNING id`
	autoResolveAlertSQL = `UPDATE alerts SET state = 'Resolved', resolved_by = ?, resolved_at = ?,
		auto_resolved = 1
		WHERE coalesce(device_id, 0) = ? AND type = ? AND instance = ? AND state <> 'Resolved' RETURNING id`
	alertByIDSQL   = selectAlert + ` WHERE a.id = ?`
	deviceKnownSQL = `SELECT EXISTS (SELECT 1 FROM devices WHERE id = ?)`
)

// alertQueries runs the lifecycle's statements inside one write
// transaction: a *sql.Tx (each statement prepared when run), or the
// Writer's statements prepared once and bound to its batch transaction.
type alertQueries interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// checkDetection refuses a detection the store must not record.
func checkDetection(d AlertDetection) error {
	if d.Key.Type == "" {
		return errors.New("empty type")
	}
	return checkSeverity(d.Severity)
}

func recordAlertError(k AlertKey, err error) error {
	return fmt.Errorf("record alert %s%s on device %d: %w", k.Type, instanceSuffix(k.Instance), k.DeviceID, err)
}

// RecordAlert stores one detection of a condition in one transaction:
//   - when the key has an unresolved alert, its count goes up by one and
//     its last seen, severity and message take the detection's;
//   - else when an alert of the key was resolved at or after reopenSince
//     (the engine's dedup window), that alert becomes Active again with
//     its count up by one, its acknowledgement and resolution cleared;
//   - else a new Active alert is inserted.
//
// It returns the alert as stored and what was done. The Writer does the
// same in its batches (AddAlerts).
func (db *DB) RecordAlert(ctx context.Context, d AlertDetection, reopenSince time.Time) (Alert, AlertChange, error) {
	if err := checkDetection(d); err != nil {
		return Alert{}, 0, recordAlertError(d.Key, err)
	}
	var (
		out    Alert
		change AlertChange
	)
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, change, err = recordAlertIn(ctx, tx, d, reopenSince)
		return err
	})
	if err != nil {
		return Alert{}, 0, recordAlertError(d.Key, err)
	}
	return out, change, nil
}

// recordAlertIn is RecordAlert's work inside a transaction. Each branch
// writes at most one row, so a failed statement leaves nothing half done.
func recordAlertIn(ctx context.Context, q alertQueries, d AlertDetection, reopenSince time.Time) (Alert, AlertChange, error) {
	k := d.Key
	at := toMS(d.At)
	var (
		id     int64
		change AlertChange
	)
	err := q.QueryRowContext(ctx, bumpAlertSQL, at, d.Severity, d.Message, k.DeviceID, k.Type, k.Instance).Scan(&id)
	switch {
	case err == nil:
		change = AlertBumped
	case !errors.Is(err, sql.ErrNoRows):
		return Alert{}, 0, fmt.Errorf("bump: %w", err)
	default:
		err = q.QueryRowContext(ctx, recentlyResolvedSQL, nullDevice(k.DeviceID), k.Type, k.Instance,
			toMS(reopenSince)).Scan(&id)
		switch {
		case err == nil:
			if _, err := q.ExecContext(ctx, reopenAlertSQL, at, d.Severity, d.Message, id); err != nil {
				return Alert{}, 0, fmt.Errorf("reopen alert %d: %w", id, err)
			}
			change = AlertReopened
		case !errors.Is(err, sql.ErrNoRows):
			return Alert{}, 0, fmt.Errorf("find recently resolved: %w", err)
		default:
			if err := q.QueryRowContext(ctx, insertAlertSQL, nullDevice(k.DeviceID), k.Type, k.Instance, d.Severity,
				d.Message, at, at).Scan(&id); err != nil {
				return Alert{}, 0, fmt.Errorf("insert: %w", err)
			}
			change = AlertInserted
		}
	}
	a, err := alertByID(ctx, q, id)
	return a, change, err
}

func instanceSuffix(instance string) string {
	if instance == "" {
		return ""
	}
	return " (" + instance + ")"
}

// AutoResolveAlert resolves the unresolved alert of key because its
// condition cleared: resolved by by (the engine: "rmm") at at, marked
// auto-resolved. ok is false when the key has no unresolved alert.
func (db *DB) AutoResolveAlert(ctx context.Context, key AlertKey, by string, at time.Time) (a Alert, ok bool, err error) {
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		a, ok, err = autoResolveAlertIn(ctx, tx, key, by, at)
		return err
	})
	if err != nil {
		return Alert{}, false, autoResolveError(key, err)
	}
	return a, ok, nil
}

func autoResolveError(key AlertKey, err error) error {
	return fmt.Errorf("auto-resolve alert %s%s on device %d: %w", key.Type, instanceSuffix(key.Instance), key.DeviceID, err)
}

// autoResolveAlertIn is AutoResolveAlert's work inside a transaction.
func autoResolveAlertIn(ctx context.Context, q alertQueries, key AlertKey, by string, at time.Time) (Alert, bool, error) {
	var id int64
	err := q.QueryRowContext(ctx, autoResolveAlertSQL, by, toMS(at), key.DeviceID, key.Type, key.Instance).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Alert{}, false, nil
	}
	if err != nil {
		return Alert{}, false, err
	}
	a, err := alertByID(ctx, q, id)
	if err != nil {
		return Alert{}, false, err
	}
	return a, true, nil
}

// AckAlert acknowledges an Active alert: by, at and note are recorded. An
// unknown alert gives an error wrapping ErrNotFound; one already
// acknowledged or resolved an error wrapping ErrAlertState that says by
// whom and when.
func (db *DB) AckAlert(ctx context.Context, id int64, by, note string, at time.Time) (Alert, error) {
	a, err := db.changeAlert(ctx, id, []string{AlertActive}, `UPDATE alerts SET state = 'Acked', acked_by = ?,
		acked_at = ?, ack_note = ? WHERE id = ? AND state = 'Open' RETURNING id`, by, toMS(at), note, id)
	if err != nil {
		return Alert{}, fmt.Errorf("acknowledge %w", err)
	}
	return a, nil
}

// SnoozeAlert snoozes an Active or Acknowledged alert until until (the
// zero time wakes it now): by and note are recorded; its state stays.
// Errors as AckAlert's.
func (db *DB) SnoozeAlert(ctx context.Context, id int64, by, note string, until time.Time) (Alert, error) {
	ms := int64(0)
	if !until.IsZero() {
		ms = toMS(until)
	}
	a, err := db.changeAlert(ctx, id, []string{AlertActive, AlertAcknowledged}, `UPDATE alerts SET snoozed_until = ?,
		snoozed_by = ?, snooze_note = ? WHERE id = ? AND state IN ('Open', 'Acked') RETURNING id`, ms, by, note, id)
	if err != nil {
		return Alert{}, fmt.Errorf("snooze %w", err)
	}
	return a, nil
}

// ResolveAlert resolves an Active or Acknowledged alert by hand: by, at
// and note are recorded, auto_resolved stays off. Errors as AckAlert's.
func (db *DB) ResolveAlert(ctx context.Context, id int64, by, note string, at time.Time) (Alert, error) {
	a, err := db.changeAlert(ctx, id, []string{AlertActive, AlertAcknowledged}, `UPDATE alerts SET state = 'Resolved',
		resolved_by = ?, resolved_at = ?, resolve_note = ?, auto_resolved = 0
		WHERE id = ? AND state IN ('Open', 'Acked') RETURNING id`, by, toMS(at), note, id)
	if err != nil {
		return Alert{}, fmt.Errorf("resolve %w", err)
	}
	return a, nil
}

// changeAlert runs a conditional update of alert id (it returns the id
// when it changed the row) and returns the row after it. When nothing
// changed, it says why: no such alert, or its state.
func (db *DB) changeAlert(ctx context.Context, id int64, from []string, update string, args ...any) (Alert, error) {
	var a Alert
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var got int64
		err := tx.QueryRowContext(ctx, update, args...).Scan(&got)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("alert %d: %w", id, err)
		}
		a, err = alertByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if got == 0 {
			return stateError(a, from)
		}
		return nil
	})
	return a, err
}

func stateError(a Alert, from []string) error {
	switch a.State {
	case AlertAcknowledged:
		return fmt.Errorf("alert %d: already acknowledged by %s at %s: %w", a.ID, a.AckedBy,
			a.AckedAt.Format(time.RFC3339), ErrAlertState)
	case AlertResolved:
		how := "by " + a.ResolvedBy
		if a.AutoResolved {
			how = "automatically (condition cleared)"
		}
		return fmt.Errorf("alert %d: already resolved %s at %s: %w", a.ID, how, a.ResolvedAt.Format(time.RFC3339), ErrAlertState)
	}
	return fmt.Errorf("alert %d is %s, want %s: %w", a.ID, a.State, strings.Join(from, " or "), ErrAlertState)
}

// GetAlert returns one alert; an error wrapping ErrNotFound when there is
// none.
func (db *DB) GetAlert(ctx context.Context, id int64) (Alert, error) {
	return alertByID(ctx, db.reader, id)
}

// ListAlerts returns the alerts f selects, most urgent severity first,
// then the most recently raised first.
func (db *DB) ListAlerts(ctx context.Context, f AlertFilter) ([]Alert, error) {
	var (
		where []string
		args  []any
	)
	if len(f.States) > 0 {
		ph := make([]string, len(f.States))
		for i, s := range f.States {
			st, err := dbState(s)
			if err != nil {
				return nil, fmt.Errorf("list alerts: %w", err)
			}
			ph[i] = "?"
			args = append(args, st)
		}
		where = append(where, "a.state IN ("+strings.Join(ph, ", ")+")")
	}
	if f.Severity != "" {
		if err := checkSeverity(f.Severity); err != nil {
			return nil, fmt.Errorf("list alerts: %w", err)
		}
		if f.Severity == SeverityMedium {
			where = append(where, "a.severity IN ('Medium', 'Warning')")
		} else {
			where = append(where, "a.severity = ?")
			args = append(args, f.Severity)
		}
	}
	if f.DeviceID != 0 {
		where = append(where, "a.device_id = ?")
		args = append(args, f.DeviceID)
	}
	q := selectAlert
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + severityRank + ", a.first_seen DESC, a.id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("list alerts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return out, nil
}

// UnresolvedAlerts returns every Active and Acknowledged alert.
func (db *DB) UnresolvedAlerts(ctx context.Context) ([]Alert, error) {
	return db.ListAlerts(ctx, AlertFilter{States: []string{AlertActive, AlertAcknowledged}})
}

// The health score's inputs from the metrics table. They live here, beside
// the alerts the score sits with, until a metrics file grows around them.

// PollCount is how many polls of a device there were and how many worked.
type PollCount struct {
	OK    int
	Total int
}

// PollCountsSince counts the poll_ok samples (1 for a poll that worked, 0
// for one that failed; the engine writes one per poll) of every device
// since since.
func (db *DB) PollCountsSince(ctx context.Context, since time.Time) (map[int64]PollCount, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT m.device_id, sum(m.value > 0), count(*)
		FROM devices d JOIN metrics m ON m.device_id = d.id AND m.type = 'poll_ok' AND m.ts >= ?
		GROUP BY m.device_id`, toMS(since))
	if err != nil {
		return nil, fmt.Errorf("poll counts: %w", err)
	}
	defer rows.Close()
	out := map[int64]PollCount{}
	for rows.Next() {
		var (
			id int64
			c  PollCount
		)
		if err := rows.Scan(&id, &c.OK, &c.Total); err != nil {
			return nil, fmt.Errorf("poll counts: %w", err)
		}
		out[id] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("poll counts: %w", err)
	}
	return out, nil
}

// LatestMetrics returns, for every device with samples of metric type
// typ, the samples of its newest poll (one per instance, e.g. one per
// volume), ordered by instance.
func (db *DB) LatestMetrics(ctx context.Context, typ string) (map[int64][]Metric, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT m.device_id, m.instance, m.value, m.ts
		FROM devices d JOIN metrics m ON m.device_id = d.id AND m.type = ?
		AND m.ts = (SELECT max(ts) FROM metrics WHERE device_id = d.id AND type = ?)
		ORDER BY m.device_id, m.instance`, typ, typ)
	if err != nil {
		return nil, fmt.Errorf("latest %s metrics: %w", typ, err)
	}
	defer rows.Close()
	out := map[int64][]Metric{}
	for rows.Next() {
		m := Metric{Type: typ}
		var ts int64
		if err := rows.Scan(&m.DeviceID, &m.Instance, &m.Value, &ts); err != nil {
			return nil, fmt.Errorf("latest %s metrics: %w", typ, err)
		}
		m.At = time.UnixMilli(ts).UTC()
		out[m.DeviceID] = append(out[m.DeviceID], m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("latest %s metrics: %w", typ, err)
	}
	return out, nil
}

// FailureRun is a device's current run of failed polls.
type FailureRun struct {
	Failures int       // failed polls since the last one that worked
	Since    time.Time // when the first of them was taken
}

// PollFailureRuns returns, for every device whose latest poll_ok sample
// is a failure, how many failed since the last one that worked (all of
// them, if none ever worked), so a restarted engine counts on.
func (db *DB) PollFailureRuns(ctx context.Context) (map[int64]FailureRun, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT d.id, count(m.id), min(m.ts)
		FROM devices d JOIN metrics m ON m.device_id = d.id AND m.type = 'poll_ok' AND m.value <= 0
		AND m.ts > coalesce((SELECT max(ts) FROM metrics WHERE device_id = d.id AND type = 'poll_ok' AND value > 0), -1)
		GROUP BY d.id`)
	if err != nil {
		return nil, fmt.Errorf("poll failure runs: %w", err)
	}
	defer rows.Close()
	out := map[int64]FailureRun{}
	for rows.Next() {
		var (
			id    int64
			r     FailureRun
			since int64
		)
		if err := rows.Scan(&id, &r.Failures, &since); err != nil {
			return nil, fmt.Errorf("poll failure runs: %w", err)
		}
		r.Since = time.UnixMilli(since).UTC()
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("poll failure runs: %w", err)
	}
	return out, nil
}
