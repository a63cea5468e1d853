package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LastRun returns when a scheduled job last started, or the zero time.
func (db *DB) LastRun(ctx context.Context, job string) (time.Time, error) {
	var ms int64
	err := db.reader.QueryRowContext(ctx, `SELECT last_run FROM schedule_runs WHERE job = ?`, job).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("last run of %s: %w", job, err)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// SetLastRun records a job's run and its error (nil when it worked).
func (db *DB) SetLastRun(ctx context.Context, job string, at time.Time, runErr error) error {
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO schedule_runs (job, last_run, last_error) VALUES (?, ?, ?)
			ON CONFLICT (job) DO UPDATE SET last_run = excluded.last_run, last_error = excluded.last_error`,
			job, toMS(at), msg)
		if err != nil {
			return fmt.Errorf("record run of %s: %w", job, err)
		}
		return nil
	})
}
