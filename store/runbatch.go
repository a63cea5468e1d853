package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// ResultRecord is one device's finished result of a run: its row, its
// audit entry and, for an ad-hoc command, the keys its output groups by.
type ResultRecord struct {
	Row   ActionRow
	Audit AuditEntry
	// Keys, when set, are the command's output keys (plain, masked)
	// for command_outputs.
	Keys *[2]string
}

// RecordRunBatch writes a batch of a run's progress in one transaction:
// the rows that started are marked Running (at startedAt, until their
// result gives the exact start), the finished results are stored with
// their output keys, and their audit entries are appended to the chain in
// order. Batching is what lets a 10,000-device run record its results as
// fast as the hosts answer: one commit per batch, not three per device.
// A failure writes nothing of the batch.
func (db *DB) RecordRunBatch(ctx context.Context, started []int64, startedAt time.Time, results []ResultRecord) error {
	nStarted := len(started)
	_, err := db.appendAuditWith(ctx, func(tx *sql.Tx) ([]AuditEntry, error) {
		rest := started
		for len(rest) > 0 {
			n := min(len(rest), 500) // SQLite's bound on host parameters is far above
			args := make([]any, 0, n+1)
			args = append(args, toMS(startedAt))
			for _, id := range rest[:n] {
				args = append(args, id)
			}
			q := `UPDATE actions SET status = 'Running', started_at = ? WHERE status = 'Pending' AND id IN (?` + strings.Repeat(",?", n-1) + `)`
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return nil, fmt.Errorf("mark started: %w", err)
			}
			rest = rest[n:]
		}
		keys, err := tx.PrepareContext(ctx, `INSERT INTO command_outputs (action_id, plain, masked) VALUES (?, ?, ?)
			ON CONFLICT (action_id) DO UPDATE SET plain = excluded.plain, masked = excluded.masked`)
		if err != nil {
			return nil, err
		}
		defer keys.Close()
		audits := make([]AuditEntry, 0, len(results))
		for _, r := range results {
			if err := finishAction(ctx, tx, r.Row); err != nil {
				return nil, err
			}
			if r.Keys != nil {
				if _, err := keys.ExecContext(ctx, r.Row.ID, r.Keys[0], r.Keys[1]); err != nil {
					return nil, fmt.Errorf("finish action %d: output keys: %w", r.Row.ID, err)
				}
			}
			audits = append(audits, r.Audit)
		}
		return audits, nil
	})
	if err != nil {
		return fmt.Errorf("record run results (%d started, %d finished): %w", nStarted, len(results), err)
	}
	return nil
}
