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

// Action statuses stored in actions.status.
const (
	ActionPending   = "Pending"
	ActionRunning   = "Running"
	ActionCompleted = "Completed"
	ActionFailed    = "Failed"
	ActionCancelled = "Cancelled"
	ActionQueued    = "Queued"
	ActionExpired   = "Expired"
)

// Run is one request to run an action on some devices; its per-device
// rows are ActionRows with the same RunID.
type Run struct {
	ID          string
	Action      string
	Params      map[string]string // never secrets
	Target      string            // as requested, for people: "site London"
	RequestedBy string
	Total       int
	StartedAt   time.Time
	FinishedAt  time.Time // zero while the fan-out runs
	// Owner is the Process whose fan-out runs it (RegisterProcess): when
	// that process is gone and the run is unfinished, the next start
	// closes it (RecoverOrphans). Written by CreateRun, not read back.
	Owner int64
	// ParamsOnRun keeps Params on the run's row only: its action rows
	// get none (an ad-hoc command's text is stored once, not per device).
	ParamsOnRun bool
}

// RunCounts is a run with its per-device rows counted by status.
type RunCounts struct {
	Run
	ByStatus map[string]int
}

// ActionRow is one device's row of a run.
type ActionRow struct {
	ID            int64
	RunID         string
	DeviceID      int64
	Host          string // the device's hostname (read only)
	Action        string
	Params        map[string]string
	Status        string
	Message       string
	Stdout        string
	Stderr        string
	ExitCode      *int
	Duration      time.Duration
	Attempts      int
	ScriptVersion int
	RequestedBy   string
	RequestedAt   time.Time
	StartedAt     time.Time
	FinishedAt    time.Time
}

func encodeParams(p map[string]string) (string, error) {
	if len(p) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode params: %w", err)
	}
	return string(b), nil
}

func decodeParams(s string) (map[string]string, error) {
	var p map[string]string
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, fmt.Errorf("decode params: %w", err)
	}
	if len(p) == 0 {
		p = nil
	}
	return p, nil
}

func nullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: toMS(t), Valid: true}
}

// CreateRun stores a run and one Pending action row per device, in one
// transaction, and returns the rows' ids in the order of deviceIDs.
func (db *DB) CreateRun(ctx context.Context, r Run, deviceIDs []int64) ([]int64, error) {
	params, err := encodeParams(r.Params)
	if err != nil {
		return nil, fmt.Errorf("create run %s: %w", r.ID, err)
	}
	ids := make([]int64, 0, len(deviceIDs))
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		var owner sql.NullInt64
		if r.Owner != 0 {
			owner = sql.NullInt64{Int64: r.Owner, Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO runs (id, action, params, target, requested_by, total, started_at, owner)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.Action, params, r.Target, r.RequestedBy, len(deviceIDs), toMS(r.StartedAt), owner); err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, `INSERT INTO actions (run_id, device_id, action, params, status, requested_by, requested_at)
			VALUES (?, ?, ?, ?, 'Pending', ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		rowParams := params
		if r.ParamsOnRun {
			rowParams = "{}"
		}
		for _, d := range deviceIDs {
			res, err := st.ExecContext(ctx, r.ID, d, r.Action, rowParams, r.RequestedBy, toMS(r.StartedAt))
			if err != nil {
				return fmt.Errorf("device %d: %w", d, err)
			}
			id, err := res.LastInsertId()
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create run %s: %w", r.ID, err)
	}
	return ids, nil
}

// StartAction marks an action row Running.
func (db *DB) StartAction(ctx context.Context, id int64, at time.Time) error {
	if _, err := db.writer.ExecContext(ctx, `UPDATE actions SET status = 'Running', started_at = ? WHERE id = ?`,
		toMS(at), id); err != nil {
		return fmt.Errorf("start action %d: %w", id, err)
	}
	return nil
}

// FinishAction records an action row's outcome: status, message, output,
// exit code, duration, attempts, script version and finish time.
func (db *DB) FinishAction(ctx context.Context, r ActionRow) error {
	return finishAction(ctx, db.writer, r)
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func finishAction(ctx context.Context, x execer, r ActionRow) error {
	var exit sql.NullInt64
	if r.ExitCode != nil {
		exit = sql.NullInt64{Int64: int64(*r.ExitCode), Valid: true}
	}
	if _, err := x.ExecContext(ctx, `UPDATE actions SET status = ?, message = ?, output = ?, stderr = ?,
		exit_code = ?, duration_ms = ?, attempts = ?, script_version = ?, started_at = coalesce(?, started_at), finished_at = ?
		WHERE id = ?`,
		r.Status, r.Message, r.Stdout, r.Stderr, exit, r.Duration.Milliseconds(), r.Attempts, r.ScriptVersion,
		nullTime(r.StartedAt), nullTime(r.FinishedAt), r.ID); err != nil {
		return fmt.Errorf("finish action %d: %w", r.ID, err)
	}
	return nil
}

// CancelPendingActions marks a run's rows that have not started
// Cancelled with message and returns how many it changed.
func (db *DB) CancelPendingActions(ctx context.Context, runID, message string, at time.Time) (int, error) {
	res, err := db.writer.ExecContext(ctx, `UPDATE actions SET status = 'Cancelled', message = ?, finished_at = ?
		WHERE run_id = ? AND status = 'Pending'`, message, toMS(at), runID)
	if err != nil {
		return 0, fmt.Errorf("cancel run %s: %w", runID, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// FinishRun records that a run's fan-out ended.
func (db *DB) FinishRun(ctx context.Context, runID string, at time.Time) error {
	if _, err := db.writer.ExecContext(ctx, `UPDATE runs SET finished_at = ? WHERE id = ? AND finished_at IS NULL`,
		toMS(at), runID); err != nil {
		return fmt.Errorf("finish run %s: %w", runID, err)
	}
	return nil
}

const runColumns = `r.id, r.action, r.params, r.target, r.requested_by, r.total, r.started_at, r.finished_at`

func scanRun(s rowScanner) (Run, error) {
	var (
		r        Run
		params   string
		started  int64
		finished sql.NullInt64
	)
	if err := s.Scan(&r.ID, &r.Action, &params, &r.Target, &r.RequestedBy, &r.Total, &started, &finished); err != nil {
		return Run{}, err
	}
	var err error
	if r.Params, err = decodeParams(params); err != nil {
		return Run{}, fmt.Errorf("run %s: %w", r.ID, err)
	}
	r.StartedAt = time.UnixMilli(started).UTC()
	r.FinishedAt = fromMS(finished)
	return r, nil
}

// GetRun returns one run with its rows counted by status; the error
// wraps ErrNotFound when there is none.
func (db *DB) GetRun(ctx context.Context, id string) (RunCounts, error) {
	r, err := scanRun(db.reader.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs r WHERE r.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return RunCounts{}, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return RunCounts{}, fmt.Errorf("run %s: %w", id, err)
	}
	rc := RunCounts{Run: r, ByStatus: map[string]int{}}
	if err := db.countRuns(ctx, []*RunCounts{&rc}); err != nil {
		return RunCounts{}, err
	}
	return rc, nil
}

// ListRuns returns runs, newest first, at most limit (0: 100); with
// host set, only runs that touched that device.
func (db *DB) ListRuns(ctx context.Context, host string, limit int) ([]RunCounts, error) {
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT ` + runColumns + ` FROM runs r`
	var args []any
	if host = strings.TrimSpace(host); host != "" {
		q += ` WHERE r.id IN (SELECT a.run_id FROM actions a JOIN devices d ON d.id = a.device_id WHERE d.hostname = ?)`
		args = append(args, host)
	}
	q += ` ORDER BY r.started_at DESC, r.rowid DESC LIMIT ?`
	args = append(args, limit)
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []*RunCounts
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, &RunCounts{Run: r, ByStatus: map[string]int{}})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	rows.Close()
	if err := db.countRuns(ctx, out); err != nil {
		return nil, err
	}
	res := make([]RunCounts, len(out))
	for i, r := range out {
		res[i] = *r
	}
	return res, nil
}

// countRuns fills ByStatus of each run.
func (db *DB) countRuns(ctx context.Context, runs []*RunCounts) error {
	if len(runs) == 0 {
		return nil
	}
	byID := make(map[string]*RunCounts, len(runs))
	args := make([]any, len(runs))
	for i, r := range runs {
		byID[r.ID] = r
		args[i] = r.ID
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT run_id, status, count(*) FROM actions
		WHERE run_id IN (`+placeholders(len(runs))+`) GROUP BY run_id, status`, args...)
	if err != nil {
		return fmt.Errorf("count runs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, status string
			n          int
		)
		if err := rows.Scan(&id, &status, &n); err != nil {
			return fmt.Errorf("count runs: %w", err)
		}
		byID[id].ByStatus[status] = n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count runs: %w", err)
	}
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// ActionFilter selects action rows; zero fields select everything.
type ActionFilter struct {
	Host  string // only this device (hostname, any case)
	RunID string // only this run
	Limit int    // at most this many, newest first (0: 1000)
	// NoOutput leaves Stdout and Stderr empty: the query does not select
	// the output columns (up to actions.output_max_bytes each per row),
	// for lists that show every row but no row's output.
	NoOutput bool
}

// actionColumns are the columns scanAction reads; actionColumnsNoOutput
// select empty strings in place of stdout and stderr.
const (
	actionColumnsHead = `a.id, a.run_id, a.device_id, d.hostname, a.action, a.params, a.status, a.message, `
	actionColumnsTail = `, a.exit_code, a.duration_ms, a.attempts, a.script_version, a.requested_by, a.requested_at, a.started_at, a.finished_at`

	actionColumns         = actionColumnsHead + `a.output, a.stderr` + actionColumnsTail
	actionColumnsNoOutput = actionColumnsHead + `'', ''` + actionColumnsTail
)

func scanAction(s rowScanner) (ActionRow, error) {
	var (
		r                 ActionRow
		params            string
		exit              sql.NullInt64
		durMS, requested  int64
		started, finished sql.NullInt64
	)
	if err := s.Scan(&r.ID, &r.RunID, &r.DeviceID, &r.Host, &r.Action, &params, &r.Status, &r.Message, &r.Stdout,
		&r.Stderr, &exit, &durMS, &r.Attempts, &r.ScriptVersion, &r.RequestedBy, &requested, &started, &finished); err != nil {
		return ActionRow{}, err
	}
	var err error
	if r.Params, err = decodeParams(params); err != nil {
		return ActionRow{}, fmt.Errorf("action %d: %w", r.ID, err)
	}
	if exit.Valid {
		c := int(exit.Int64)
		r.ExitCode = &c
	}
	r.Duration = time.Duration(durMS) * time.Millisecond
	r.RequestedAt = time.UnixMilli(requested).UTC()
	r.StartedAt, r.FinishedAt = fromMS(started), fromMS(finished)
	return r, nil
}

// ListActionRows returns action rows, newest first (a run's rows in
// hostname order when RunID is set), without their output when
// f.NoOutput is set.
func (db *DB) ListActionRows(ctx context.Context, f ActionFilter) ([]ActionRow, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	cols := actionColumns
	if f.NoOutput {
		cols = actionColumnsNoOutput
	}
	q := `SELECT ` + cols + ` FROM actions a JOIN devices d ON d.id = a.device_id WHERE 1 = 1`
	var args []any
	if h := strings.TrimSpace(f.Host); h != "" {
		q += ` AND d.hostname = ?`
		args = append(args, h)
	}
	order := ` ORDER BY a.requested_at DESC, a.id DESC`
	if f.RunID != "" {
		q += ` AND a.run_id = ?`
		args = append(args, f.RunID)
		order = ` ORDER BY d.hostname, a.id`
	}
	q += order + ` LIMIT ?`
	args = append(args, limit)
	return queryAll(ctx, db, "list actions", scanAction, q, args...)
}

// GetActionRow returns one action row; the error wraps ErrNotFound when
// there is none.
func (db *DB) GetActionRow(ctx context.Context, id int64) (ActionRow, error) {
	r, err := scanAction(db.reader.QueryRowContext(ctx, `SELECT `+actionColumns+`
		FROM actions a JOIN devices d ON d.id = a.device_id WHERE a.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return ActionRow{}, fmt.Errorf("action %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return ActionRow{}, fmt.Errorf("action %d: %w", id, err)
	}
	return r, nil
}
