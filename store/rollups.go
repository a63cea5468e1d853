package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Rollup periods (metric_rollups.period).
const (
	PeriodHour = "hour"
	PeriodDay  = "day"
)

// RolledMetrics are the metric types rolled up: availability (poll_ok),
// CPU, memory and free disk per volume.
var RolledMetrics = []string{"poll_ok", "cpu_pct", "mem_pct", "disk_free_pct"}

// DefaultRollupBatch is how many raw samples one rollup transaction adds.
const DefaultRollupBatch = 50000

// RollupReport says what RollUp did.
type RollupReport struct {
	Samples int64 // raw samples added to the rollups
	Batches int   // write transactions
}

// rolledTypes is RolledMetrics as an SQL list of literals (constants).
func rolledTypes() string {
	q := make([]string, len(RolledMetrics))
	for i, t := range RolledMetrics {
		q[i] = "'" + t + "'"
	}
	return strings.Join(q, ", ")
}

// rollupInsert adds the samples of a WHERE clause (over metrics m) to the
// buckets of one period of length ms.
func rollupInsert(period string, ms int64, where string) string {
	return fmt.Sprintf(`INSERT INTO metric_rollups (device_id, type, instance, period, start, n, sum_value, min_value, max_value)
		SELECT m.device_id, m.type, m.instance, '%s', (m.ts / %d) * %d, count(*), sum(m.value), min(m.value), max(m.value)
		FROM metrics m WHERE m.type IN (%s) AND (%s)
		GROUP BY m.device_id, m.type, m.instance, (m.ts / %d) * %d
		ON CONFLICT (device_id, type, instance, period, start) DO UPDATE SET
			n = n + excluded.n, sum_value = sum_value + excluded.sum_value,
			min_value = min(min_value, excluded.min_value), max_value = max(max_value, excluded.max_value)`,
		period, ms, ms, rolledTypes(), where, ms, ms)
}

var (
	hourMS = int64(time.Hour / time.Millisecond)
	dayMS  = int64(24 * time.Hour / time.Millisecond)
)

// RollUp adds the raw samples written since the last pass to the hourly
// and daily rollups, batch samples per write transaction (0: the
// default), so the batch writer gets the write lock between them. It
// reads only the new samples: those past the last metrics id rolled, and
// (rare) those with an id at or below it but newer than the newest
// sample rolled, which SQLite gives reused ids after the newest rows
// were deleted (a removed device's last samples). Each sample is added
// exactly once; a crash between batches loses nothing (the state moves
// in the batch's transaction).
func (db *DB) RollUp(ctx context.Context, batch int) (RollupReport, error) {
	var rep RollupReport
	if batch <= 0 {
		batch = DefaultRollupBatch
	}
	for {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("roll up metrics: %w", err)
		}
		n, more, err := db.rollupBatch(ctx, batch)
		rep.Samples += n
		if n > 0 {
			rep.Batches++
		}
		if err != nil {
			return rep, fmt.Errorf("roll up metrics: %w", err)
		}
		if !more {
			return rep, nil
		}
	}
}

func (db *DB) rollupBatch(ctx context.Context, batch int) (n int64, more bool, err error) {
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		var lastID, lastTS int64
		if err := tx.QueryRowContext(ctx, `SELECT last_id, last_ts FROM rollup_state WHERE id = 1`).Scan(&lastID, &lastTS); err != nil {
			return fmt.Errorf("read state: %w", err)
		}
		// Reused ids first: samples at or below lastID newer than lastTS.
		var reused sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM metrics WHERE ts > ? AND id <= ?`, lastTS, lastID).Scan(&reused); err != nil {
			return fmt.Errorf("find reused ids: %w", err)
		}
		var hi sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(id) FROM (SELECT id FROM metrics WHERE id > ? ORDER BY id LIMIT ?)`,
			lastID, batch).Scan(&hi); err != nil {
			return fmt.Errorf("find new samples: %w", err)
		}
		if !hi.Valid && reused.Int64 == 0 {
			return nil
		}
		top := lastID
		if hi.Valid {
			top = hi.Int64
		}
		where := fmt.Sprintf("(m.id > %d AND m.id <= %d)", lastID, top)
		if reused.Int64 > 0 {
			where += fmt.Sprintf(" OR (m.id <= %d AND m.ts > %d)", lastID, lastTS)
		}
		for _, p := range []struct {
			name string
			ms   int64
		}{{PeriodHour, hourMS}, {PeriodDay, dayMS}} {
			if _, err := tx.ExecContext(ctx, rollupInsert(p.name, p.ms, where)); err != nil {
				return fmt.Errorf("add %s buckets: %w", p.name, err)
			}
		}
		var maxTS sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(m.type IN (`+rolledTypes()+`)), 0), max(m.ts) FROM metrics m WHERE `+where).Scan(&n, &maxTS); err != nil {
			return fmt.Errorf("count samples: %w", err)
		}
		if maxTS.Int64 < lastTS {
			maxTS.Int64 = lastTS
		}
		if _, err := tx.ExecContext(ctx, `UPDATE rollup_state SET last_id = ?, last_ts = ? WHERE id = 1`, top, maxTS.Int64); err != nil {
			return fmt.Errorf("save state: %w", err)
		}
		more = hi.Valid
		return nil
	})
	return n, more, err
}

// PruneRollups removes hourly buckets that start before hourly and daily
// buckets that start before daily. It returns the rows removed.
func (db *DB) PruneRollups(ctx context.Context, hourly, daily time.Time) (int64, error) {
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, p := range []struct {
			period string
			before time.Time
		}{{PeriodHour, hourly}, {PeriodDay, daily}} {
			res, err := tx.ExecContext(ctx, `DELETE FROM metric_rollups WHERE period = ? AND start < ?`, p.period, toMS(p.before))
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += k
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune rollups: %w", err)
	}
	return n, nil
}

// Rollup is one bucket of one series.
type Rollup struct {
	DeviceID int64
	Type     string
	Instance string
	Start    time.Time
	N        int64
	Sum      float64
	Min      float64
	Max      float64
}

// Mean is the bucket's average.
func (r Rollup) Mean() float64 {
	if r.N == 0 {
		return 0
	}
	return r.Sum / float64(r.N)
}

// RollupFilter selects buckets.
type RollupFilter struct {
	Period   string   // PeriodHour or PeriodDay
	Types    []string // empty: every rolled type
	From, To time.Time
	Devices  []int64 // empty: all
}

// Rollups returns the buckets of f's period that start in [From, To), by
// device, type, instance and start.
func (db *DB) Rollups(ctx context.Context, f RollupFilter) ([]Rollup, error) {
	if f.Period != PeriodHour && f.Period != PeriodDay {
		return nil, errors.New("rollups: period must be hour or day")
	}
	q := `SELECT device_id, type, instance, start, n, sum_value, min_value, max_value FROM metric_rollups
		WHERE period = ? AND start >= ? AND start < ?`
	args := []any{f.Period, toMS(f.From), toMS(f.To)}
	if len(f.Types) > 0 {
		q += " AND type IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(f.Types)), ", ") + ")"
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	if len(f.Devices) > 0 {
		q += " AND device_id IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(f.Devices)), ", ") + ")"
		for _, d := range f.Devices {
			args = append(args, d)
		}
	}
	q += " ORDER BY device_id, type, instance, start"
	return queryAll(ctx, db, "rollups", func(r rowScanner) (Rollup, error) {
		var (
			x     Rollup
			start int64
		)
		err := r.Scan(&x.DeviceID, &x.Type, &x.Instance, &start, &x.N, &x.Sum, &x.Min, &x.Max)
		x.Start = time.UnixMilli(start).UTC()
		return x, err
	}, q, args...)
}

// OldestRollup is the start of the oldest bucket of period, zero when
// there is none.
func (db *DB) OldestRollup(ctx context.Context, period string) (time.Time, error) {
	var v sql.NullInt64
	if err := db.reader.QueryRowContext(ctx, `SELECT min(start) FROM metric_rollups WHERE period = ?`, period).Scan(&v); err != nil {
		return time.Time{}, fmt.Errorf("oldest rollup: %w", err)
	}
	return fromMS(v), nil
}
