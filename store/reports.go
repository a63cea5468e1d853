package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The queries reports run: aggregates of the metric rollups and the
// alerts of a period, for a site, a group or the whole fleet. They
// aggregate in SQL, so a month of a large fleet is read as totals, not as
// millions of rows.

// Scope selects devices: one site, one group, or every device when both
// are empty. Names compare without case.
type Scope struct {
	Site  string
	Group string
}

// where is the scope as SQL over devices d (joined to sites s), with its
// arguments.
func (s Scope) where() (string, []any) {
	var (
		parts []string
		args  []any
	)
	if s.Site != "" {
		parts = append(parts, "s.name = ?")
		args = append(args, s.Site)
	}
	if s.Group != "" {
		parts = append(parts, `EXISTS (SELECT 1 FROM device_group_members gm JOIN device_groups g ON g.id = gm.group_id
			WHERE gm.device_id = d.id AND g.name = ?)`)
		args = append(args, s.Group)
	}
	if len(parts) == 0 {
		return "1", nil
	}
	return strings.Join(parts, " AND "), args
}

// RollupQuery selects the buckets of one metric type in [From, To).
type RollupQuery struct {
	Period   string // PeriodHour or PeriodDay
	Type     string
	From, To time.Time
	Scope    Scope
}

// RollupTotal is one device's aggregate over a query's buckets.
type RollupTotal struct {
	N             int64
	Sum, Min, Max float64
}

// Mean is the total's average.
func (t RollupTotal) Mean() float64 {
	if t.N == 0 {
		return 0
	}
	return t.Sum / float64(t.N)
}

// RollupTotals aggregates q's buckets per device (every instance of the
// device together: the lowest free disk over its volumes).
func (db *DB) RollupTotals(ctx context.Context, q RollupQuery) (map[int64]RollupTotal, error) {
	sc, args := q.Scope.where()
	rows, err := db.reader.QueryContext(ctx, `SELECT r.device_id, sum(r.n), sum(r.sum_value), min(r.min_value), max(r.max_value)
		FROM metric_rollups r JOIN devices d ON d.id = r.device_id JOIN sites s ON s.id = d.site_id
		WHERE r.period = ? AND r.type = ? AND r.start >= ? AND r.start < ? AND `+sc+`
		GROUP BY r.device_id`, append([]any{q.Period, q.Type, toMS(q.From), toMS(q.To)}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("rollup totals of %s: %w", q.Type, err)
	}
	defer rows.Close()
	out := map[int64]RollupTotal{}
	for rows.Next() {
		var (
			id int64
			t  RollupTotal
		)
		if err := rows.Scan(&id, &t.N, &t.Sum, &t.Min, &t.Max); err != nil {
			return nil, fmt.Errorf("rollup totals of %s: %w", q.Type, err)
		}
		out[id] = t
	}
	return out, rows.Err()
}

// TrendPoint is one bucket of one site: the samples of its devices.
type TrendPoint struct {
	Start time.Time
	Site  string
	N     int64
	Sum   float64
}

// RollupTrend aggregates q's buckets per bucket start and site, oldest
// first: what a trend chart draws.
func (db *DB) RollupTrend(ctx context.Context, q RollupQuery) ([]TrendPoint, error) {
	sc, args := q.Scope.where()
	return queryAll(ctx, db, "rollup trend", func(r rowScanner) (TrendPoint, error) {
		var (
			p     TrendPoint
			start int64
		)
		err := r.Scan(&start, &p.Site, &p.N, &p.Sum)
		p.Start = time.UnixMilli(start).UTC()
		return p, err
	}, `SELECT r.start, s.name, sum(r.n), sum(r.sum_value)
		FROM metric_rollups r JOIN devices d ON d.id = r.device_id JOIN sites s ON s.id = d.site_id
		WHERE r.period = ? AND r.type = ? AND r.start >= ? AND r.start < ? AND `+sc+`
		GROUP BY r.start, s.name ORDER BY r.start, s.name`, append([]any{q.Period, q.Type, toMS(q.From), toMS(q.To)}, args...)...)
}

// AlertRange selects alerts of a period.
type AlertRange struct {
	From, To time.Time
	Types    []string // empty: every type
	// Overlap selects the alerts unresolved at any moment of the period
	// (raised before its end, not resolved before its start): outages.
	// Without it: the alerts raised in the period.
	Overlap bool
	Scope   Scope
}

// AlertsInRange returns the alerts r selects, oldest first, with their
// device's site.
func (db *DB) AlertsInRange(ctx context.Context, r AlertRange) ([]Alert, map[int64]string, error) {
	sc, args := r.Scope.where()
	q := `SELECT a.id, a.device_id, coalesce(d.hostname, ''), a.type, a.instance, a.severity, a.state,
		a.message, a.count, a.first_seen, a.last_seen, a.acked_by, a.acked_at, a.ack_note, a.resolved_by, a.resolved_at,
		a.resolve_note, a.auto_resolved, a.snoozed_until, a.snoozed_by, a.snooze_note, coalesce(s.name, '')
		FROM alerts a JOIN devices d ON d.id = a.device_id JOIN sites s ON s.id = d.site_id WHERE ` + sc
	if r.Overlap {
		q += " AND a.first_seen < ? AND (a.resolved_at IS NULL OR a.resolved_at >= ?)"
		args = append(args, toMS(r.To), toMS(r.From))
	} else {
		q += " AND a.first_seen >= ? AND a.first_seen < ?"
		args = append(args, toMS(r.From), toMS(r.To))
	}
	if len(r.Types) > 0 {
		q += " AND a.type IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(r.Types)), ", ") + ")"
		for _, t := range r.Types {
			args = append(args, t)
		}
	}
	q += " ORDER BY a.first_seen, a.id"
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("alerts of a period: %w", err)
	}
	defer rows.Close()
	var out []Alert
	sites := map[int64]string{}
	for rows.Next() {
		var site string
		a, err := scanAlert(scanWithExtra{rows, &site})
		if err != nil {
			return nil, nil, fmt.Errorf("alerts of a period: %w", err)
		}
		sites[a.ID] = site
		out = append(out, a)
	}
	return out, sites, rows.Err()
}

// scanWithExtra scans a row whose last columns follow scanAlert's.
type scanWithExtra struct {
	r     rowScanner
	extra *string
}

func (s scanWithExtra) Scan(dest ...any) error { return s.r.Scan(append(dest, s.extra)...) }

// ScopedDevices lists the devices of a scope, by hostname.
func (db *DB) ScopedDevices(ctx context.Context, sc Scope) ([]Device, error) {
	all, err := db.ListDevices(ctx)
	if err != nil {
		return nil, err
	}
	if sc == (Scope{}) {
		return all, nil
	}
	var out []Device
	for _, d := range all {
		if sc.Site != "" && !strings.EqualFold(d.Site, sc.Site) {
			continue
		}
		if sc.Group != "" && !containsFold(d.Groups, sc.Group) {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

func containsFold(ss []string, s string) bool {
	for _, x := range ss {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
