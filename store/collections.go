package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrExists is wrapped when a name is already taken.
var ErrExists = errors.New("already exists")

// Collection is a saved dynamic group: a name and a filter expression.
// Its members are not stored; the engine evaluates the expression.
type Collection struct {
	Name        string
	Expr        string
	Description string
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// SaveCollection stores a collection. A name already taken (in any case)
// is an error wrapping ErrExists unless replace is set; then its
// expression and description are replaced and its creator and creation
// time kept.
func (db *DB) SaveCollection(ctx context.Context, c Collection, replace bool) error {
	name := strings.TrimSpace(c.Name)
	if name == "" || strings.TrimSpace(c.Expr) == "" {
		return fmt.Errorf("save collection %q: name and expression must not be empty", c.Name)
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM collections WHERE name = ?`, name).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO collections (name, expr, description, created_by, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)`, name, c.Expr, c.Description, c.CreatedBy, toMS(c.UpdatedAt), toMS(c.UpdatedAt))
		case err != nil:
		case !replace:
			return fmt.Errorf("collection %q: %w", name, ErrExists)
		default:
			_, err = tx.ExecContext(ctx, `UPDATE collections SET expr = ?, description = ?, updated_at = ? WHERE id = ?`,
				c.Expr, c.Description, toMS(c.UpdatedAt), id)
		}
		if err != nil {
			return fmt.Errorf("save collection %q: %w", name, err)
		}
		return nil
	})
}

// ListCollections returns every stored collection by name.
func (db *DB) ListCollections(ctx context.Context) ([]Collection, error) {
	return queryAll(ctx, db, "list collections", func(s rowScanner) (Collection, error) {
		var (
			c                Collection
			created, updated int64
		)
		if err := s.Scan(&c.Name, &c.Expr, &c.Description, &c.CreatedBy, &created, &updated); err != nil {
			return c, err
		}
		c.CreatedAt, c.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
		return c, nil
	}, `SELECT name, expr, description, created_by, created_at, updated_at FROM collections ORDER BY name COLLATE NOCASE`)
}

// DeleteCollection removes a collection; the error wraps ErrNotFound when
// there is none of that name.
func (db *DB) DeleteCollection(ctx context.Context, name string) error {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM collections WHERE name = ?`, strings.TrimSpace(name))
	if err != nil {
		return fmt.Errorf("delete collection %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("collection %q: %w", name, ErrNotFound)
	}
	return nil
}

// OutputKey is one device result of a command run with its grouping keys,
// read without its output.
type OutputKey struct {
	ActionID int64
	DeviceID int64
	Host     string
	Status   string
	Message  string
	Plain    string // "" until the result is recorded
	Masked   string
}

// FinishCommandAction is FinishAction for a command run's row, with the
// grouping keys of its output, in one transaction.
func (db *DB) FinishCommandAction(ctx context.Context, r ActionRow, plain, masked string) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := finishAction(ctx, tx, r); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO command_outputs (action_id, plain, masked) VALUES (?, ?, ?)
			ON CONFLICT (action_id) DO UPDATE SET plain = excluded.plain, masked = excluded.masked`, r.ID, plain, masked); err != nil {
			return fmt.Errorf("finish action %d: output keys: %w", r.ID, err)
		}
		return nil
	})
}

// RunOutputKeys returns every row of a run with its grouping keys (empty
// for rows not finished, or not of a command run), by hostname.
func (db *DB) RunOutputKeys(ctx context.Context, runID string) ([]OutputKey, error) {
	return queryAll(ctx, db, "run output keys", func(s rowScanner) (OutputKey, error) {
		var (
			k             OutputKey
			plain, masked sql.NullString
		)
		err := s.Scan(&k.ActionID, &k.DeviceID, &k.Host, &k.Status, &k.Message, &plain, &masked)
		k.Plain, k.Masked = plain.String, masked.String
		return k, err
	}, `SELECT a.id, a.device_id, d.hostname, a.status, a.message, k.plain, k.masked
		FROM actions a JOIN devices d ON d.id = a.device_id LEFT JOIN command_outputs k ON k.action_id = a.id
		WHERE a.run_id = ? ORDER BY d.hostname, a.id`, runID)
}
