package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Offline queue entry states stored in offline_queue.state.
const (
	QueuePending   = "Pending"   // waiting for the device to come back
	QueueReplaying = "Replaying" // claimed by an engine, running now
	QueueDone      = "Done"
	QueueFailed    = "Failed"
	QueueExpired   = "Expired"
	QueueCancelled = "Cancelled"
)

// ErrQueueState is wrapped when a queue entry is not in the state an
// operation needs (cancelling one that already ran).
var ErrQueueState = errors.New("queue entry is not pending")

// QueueEntry is one action waiting in the offline queue.
type QueueEntry struct {
	ID          int64
	DeviceID    int64
	Host        string // the device's hostname (read only)
	Action      string
	Params      map[string]string
	RequestedBy string
	EnqueuedAt  time.Time
	ExpiresAt   time.Time // zero: never
	State       string
	Attempts    int
	LastError   string
	RunID       string
	ActionID    int64 // the actions row the entry belongs to; 0 for entries older than schema 0005
}

// EnqueueAction puts an action row in the offline queue: the row becomes
// Queued with message, and a Pending entry is added, in one transaction.
// It returns the entry's id.
func (db *DB) EnqueueAction(ctx context.Context, q QueueEntry, message string) (int64, error) {
	params, err := encodeParams(q.Params)
	if err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	var id int64
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		var actionID sql.NullInt64
		if q.ActionID != 0 {
			actionID = sql.NullInt64{Int64: q.ActionID, Valid: true}
			if _, err := tx.ExecContext(ctx, `UPDATE actions SET status = 'Queued', message = ?, attempts = ? WHERE id = ?`,
				message, q.Attempts, q.ActionID); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO offline_queue (device_id, action, params, requested_by, enqueued_at,
			expires_at, state, attempts, last_error, run_id, action_id) VALUES (?, ?, ?, ?, ?, ?, 'Pending', 0, ?, ?, ?)`,
			q.DeviceID, q.Action, params, q.RequestedBy, toMS(q.EnqueuedAt), nullTime(q.ExpiresAt), q.LastError, q.RunID, actionID)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("enqueue %s for device %d: %w", q.Action, q.DeviceID, err)
	}
	return id, nil
}

const queueColumns = `q.id, q.device_id, d.hostname, q.action, q.params, q.requested_by, q.enqueued_at, q.expires_at,
	q.state, q.attempts, q.last_error, q.run_id, q.action_id`

func scanQueue(s rowScanner) (QueueEntry, error) {
	var (
		e        QueueEntry
		params   string
		enqueued int64
		expires  sql.NullInt64
		actionID sql.NullInt64
	)
	if err := s.Scan(&e.ID, &e.DeviceID, &e.Host, &e.Action, &params, &e.RequestedBy, &enqueued, &expires,
		&e.State, &e.Attempts, &e.LastError, &e.RunID, &actionID); err != nil {
		return QueueEntry{}, err
	}
	var err error
	if e.Params, err = decodeParams(params); err != nil {
		return QueueEntry{}, fmt.Errorf("queue entry %d: %w", e.ID, err)
	}
	e.EnqueuedAt = time.UnixMilli(enqueued).UTC()
	e.ExpiresAt = fromMS(expires)
	e.ActionID = actionID.Int64
	return e, nil
}

func (db *DB) queryQueue(ctx context.Context, where string, args ...any) ([]QueueEntry, error) {
	return queryAll(ctx, db, "list queue", scanQueue, `SELECT `+queueColumns+` FROM offline_queue q
		JOIN devices d ON d.id = q.device_id `+where+` ORDER BY q.id`, args...)
}

// ListQueue returns the entries in state (every state when empty),
// oldest first.
func (db *DB) ListQueue(ctx context.Context, state string) ([]QueueEntry, error) {
	if state == "" {
		return db.queryQueue(ctx, "")
	}
	return db.queryQueue(ctx, "WHERE q.state = ?", state)
}

// GetQueueEntry returns one entry; the error wraps ErrNotFound when there
// is none.
func (db *DB) GetQueueEntry(ctx context.Context, id int64) (QueueEntry, error) {
	out, err := db.queryQueue(ctx, "WHERE q.id = ?", id)
	if err != nil {
		return QueueEntry{}, err
	}
	if len(out) == 0 {
		return QueueEntry{}, fmt.Errorf("queue entry %d: %w", id, ErrNotFound)
	}
	return out[0], nil
}

// PendingForDevice returns a device's Pending entries in enqueue order.
func (db *DB) PendingForDevice(ctx context.Context, deviceID int64) ([]QueueEntry, error) {
	return db.queryQueue(ctx, "WHERE q.device_id = ? AND q.state = 'Pending'", deviceID)
}

// DevicesWithPending returns the ids of the devices that have Pending
// entries.
func (db *DB) DevicesWithPending(ctx context.Context) ([]int64, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT DISTINCT device_id FROM offline_queue WHERE state = 'Pending' ORDER BY device_id`)
	if err != nil {
		return nil, fmt.Errorf("queued devices: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("queued devices: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ClaimQueued moves a Pending entry to Replaying, counts the attempt and
// records the claiming Process (owner; 0 for none), whose end, if it
// crashes, puts the entry back (RecoverOrphans). It reports false when
// the entry was not Pending (another engine, or a cancel, got there
// first), so each entry replays at most once at a time.
func (db *DB) ClaimQueued(ctx context.Context, id, owner int64) (bool, error) {
	var by sql.NullInt64
	if owner != 0 {
		by = sql.NullInt64{Int64: owner, Valid: true}
	}
	res, err := db.writer.ExecContext(ctx, `UPDATE offline_queue SET state = 'Replaying', attempts = attempts + 1, claimed_by = ?
		WHERE id = ? AND state = 'Pending'`, by, id)
	if err != nil {
		return false, fmt.Errorf("claim queue entry %d: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReleaseQueued puts a Replaying entry back to Pending (the device was
// unreachable again), keeping the error.
func (db *DB) ReleaseQueued(ctx context.Context, id int64, lastError string) error {
	if _, err := db.writer.ExecContext(ctx, `UPDATE offline_queue SET state = 'Pending', last_error = ?, claimed_by = NULL
		WHERE id = ? AND state = 'Replaying'`, lastError, id); err != nil {
		return fmt.Errorf("release queue entry %d: %w", id, err)
	}
	return nil
}

// FinishQueued ends a Replaying entry as Done or Failed.
func (db *DB) FinishQueued(ctx context.Context, id int64, state, lastError string) error {
	if state != QueueDone && state != QueueFailed {
		return fmt.Errorf("finish queue entry %d: state %q is not Done or Failed", id, state)
	}
	if _, err := db.writer.ExecContext(ctx, `UPDATE offline_queue SET state = ?, last_error = ? WHERE id = ?`,
		state, lastError, id); err != nil {
		return fmt.Errorf("finish queue entry %d: %w", id, err)
	}
	return nil
}

// endQueued moves entries matching where (over offline_queue q) from
// Pending to state, and their action rows to actionStatus with message,
// in one transaction; it returns the entries as they were.
func (db *DB) endQueued(ctx context.Context, where, state, actionStatus, message string, at time.Time, args ...any) ([]QueueEntry, error) {
	var ended []QueueEntry
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+queueColumns+` FROM offline_queue q JOIN devices d ON d.id = q.device_id
			WHERE q.state = 'Pending' AND `+where+` ORDER BY q.id`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			e, err := scanQueue(rows)
			if err != nil {
				rows.Close()
				return err
			}
			ended = append(ended, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range ended {
			if _, err := tx.ExecContext(ctx, `UPDATE offline_queue SET state = ? WHERE id = ?`, state, e.ID); err != nil {
				return err
			}
			if e.ActionID != 0 {
				if _, err := tx.ExecContext(ctx, `UPDATE actions SET status = ?, message = ?, finished_at = ?
					WHERE id = ? AND status = 'Queued'`, actionStatus, message, toMS(at), e.ActionID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// ExpireQueue marks the Pending entries whose expiry is at or before now
// Expired (their action rows too) and returns them.
func (db *DB) ExpireQueue(ctx context.Context, now time.Time) ([]QueueEntry, error) {
	out, err := db.endQueued(ctx, "q.expires_at IS NOT NULL AND q.expires_at <= ?", QueueExpired, ActionExpired,
		"Expired in the offline queue: the device did not come back in time", now, toMS(now))
	if err != nil {
		return nil, fmt.Errorf("expire queue: %w", err)
	}
	return out, nil
}

// CancelQueued cancels one Pending entry (and its action row). The error
// wraps ErrNotFound for an unknown id and ErrQueueState for an entry that
// is not Pending.
func (db *DB) CancelQueued(ctx context.Context, id int64, by string, at time.Time) (QueueEntry, error) {
	out, err := db.endQueued(ctx, "q.id = ?", QueueCancelled, ActionCancelled, "Cancelled in the offline queue by "+by, at, id)
	if err != nil {
		return QueueEntry{}, fmt.Errorf("cancel queue entry %d: %w", id, err)
	}
	if len(out) == 1 {
		return out[0], nil
	}
	e, err := db.GetQueueEntry(ctx, id)
	if err != nil {
		return QueueEntry{}, fmt.Errorf("cancel: %w", err)
	}
	return QueueEntry{}, fmt.Errorf("cancel queue entry %d: it is %s: %w", id, e.State, ErrQueueState)
}

// CancelRunQueue cancels the Pending entries of a run and returns them.
func (db *DB) CancelRunQueue(ctx context.Context, runID, by string, at time.Time) ([]QueueEntry, error) {
	out, err := db.endQueued(ctx, "q.run_id = ?", QueueCancelled, ActionCancelled, "Cancelled in the offline queue by "+by, at, runID)
	if err != nil {
		return nil, fmt.Errorf("cancel queue of run %s: %w", runID, err)
	}
	return out, nil
}
