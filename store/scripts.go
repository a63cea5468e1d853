package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Script is one version of a script in the library.
type Script struct {
	Name        string
	Version     int
	Description string
	Params      json.RawMessage // a JSON array of parameter specs (the engine's ParamSpec)
	Body        string
	Timeout     time.Duration // 0: the engine's default
	CreatedBy   string
	CreatedAt   time.Time
}

// AddScript stores s as the next version of its name (1 for a new name)
// and returns it with its version. Older versions are kept.
func (db *DB) AddScript(ctx context.Context, s Script) (Script, error) {
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" {
		return Script{}, errors.New("add script: empty name")
	}
	if strings.TrimSpace(s.Body) == "" {
		return Script{}, fmt.Errorf("add script %s: empty body", s.Name)
	}
	params := string(s.Params)
	if params == "" || params == "null" {
		params = "[]"
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = db.now().UTC()
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var v int
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM scripts WHERE name = ?`, s.Name).Scan(&v); err != nil {
			return err
		}
		s.Version = v + 1
		_, err := tx.ExecContext(ctx, `INSERT INTO scripts (name, version, description, params, body, timeout_ms, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.Name, s.Version, s.Description, params, s.Body, s.Timeout.Milliseconds(),
			s.CreatedBy, toMS(s.CreatedAt))
		return err
	})
	if err != nil {
		return Script{}, fmt.Errorf("add script %s: %w", s.Name, err)
	}
	s.Params = json.RawMessage(params)
	s.CreatedAt = time.UnixMilli(toMS(s.CreatedAt)).UTC()
	return s, nil
}

const scriptColumns = `name, version, description, params, body, timeout_ms, created_by, created_at`

func scanScript(r rowScanner) (Script, error) {
	var (
		s         Script
		params    string
		timeoutMS int64
		created   int64
	)
	if err := r.Scan(&s.Name, &s.Version, &s.Description, &params, &s.Body, &timeoutMS, &s.CreatedBy, &created); err != nil {
		return Script{}, err
	}
	s.Params = json.RawMessage(params)
	s.Timeout = time.Duration(timeoutMS) * time.Millisecond
	s.CreatedAt = time.UnixMilli(created).UTC()
	return s, nil
}

// GetScript returns version of the script name (the latest when version
// is 0); the error wraps ErrNotFound when there is none.
func (db *DB) GetScript(ctx context.Context, name string, version int) (Script, error) {
	q := `SELECT ` + scriptColumns + ` FROM scripts WHERE name = ? ORDER BY version DESC LIMIT 1`
	args := []any{strings.TrimSpace(name)}
	if version > 0 {
		q = `SELECT ` + scriptColumns + ` FROM scripts WHERE name = ? AND version = ?`
		args = append(args, version)
	}
	s, err := scanScript(db.reader.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		if version > 0 {
			return Script{}, fmt.Errorf("script %s version %d: %w", name, version, ErrNotFound)
		}
		return Script{}, fmt.Errorf("script %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Script{}, fmt.Errorf("script %s: %w", name, err)
	}
	return s, nil
}

// ListScripts returns every version of name, newest first, or, with name
// empty, the latest version of each script by name.
func (db *DB) ListScripts(ctx context.Context, name string) ([]Script, error) {
	q := `SELECT ` + scriptColumns + ` FROM scripts s WHERE version = (SELECT max(version) FROM scripts WHERE name = s.name) ORDER BY name`
	var args []any
	if name = strings.TrimSpace(name); name != "" {
		q = `SELECT ` + scriptColumns + ` FROM scripts WHERE name = ? ORDER BY version DESC`
		args = append(args, name)
	}
	return queryAll(ctx, db, "list scripts", scanScript, q, args...)
}
