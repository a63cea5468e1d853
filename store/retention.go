package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Retention defaults.
const (
	DefaultMetricsRetention   = 7 * 24 * time.Hour
	DefaultDataRetention      = 90 * 24 * time.Hour
	DefaultArchiveRetention   = 2 * 365 * 24 * time.Hour
	DefaultRetentionBatchRows = 5000
)

// RetentionPolicy says how long rows stay in the database and archive
// files on disk. Zero fields take the defaults.
type RetentionPolicy struct {
	Metrics   time.Duration // metric samples older than this are archived (default 7 days)
	Data      time.Duration // resolved alerts and audit rows older than this are archived (default 90 days)
	Archive   time.Duration // archive files whose day is older than this are removed (default 2 years)
	BatchRows int           // rows moved per write transaction (default 5000)
}

// withDefaults fills the zero fields and checks the rest.
func (p RetentionPolicy) withDefaults() (RetentionPolicy, error) {
	if p.Metrics == 0 {
		p.Metrics = DefaultMetricsRetention
	}
	if p.Data == 0 {
		p.Data = DefaultDataRetention
	}
	if p.Archive == 0 {
		p.Archive = DefaultArchiveRetention
	}
	if p.BatchRows == 0 {
		p.BatchRows = DefaultRetentionBatchRows
	}
	switch {
	case p.Metrics < 0 || p.Data < 0 || p.Archive < 0:
		return p, fmt.Errorf("negative retention (metrics %v, data %v, archive %v)", p.Metrics, p.Data, p.Archive)
	case p.BatchRows < 0:
		return p, fmt.Errorf("batch rows %d: want 1 or more", p.BatchRows)
	case p.Archive < p.Metrics || p.Archive < p.Data:
		// Rows would be archived only to have their file removed at once.
		return p, fmt.Errorf("archive retention %v is shorter than metrics (%v) or data (%v) retention",
			p.Archive, p.Metrics, p.Data)
	}
	return p, nil
}

// RetentionReport says what ApplyRetention did.
type RetentionReport struct {
	MetricsArchived int64    // metric rows moved to the archive
	AlertsArchived  int64    // resolved alerts moved to the archive
	AuditArchived   int64    // audit rows moved to the archive
	FilesWritten    []string // archive files appended to, sorted
	FilesRemoved    []string // archive files removed as older than the archive retention, sorted
	Took            time.Duration
}

// archiveRow is one row on its way to the archive.
type archiveRow struct {
	id   int64
	ts   int64  // unix ms; its UTC day names the file
	line []byte // the JSON line, without newline
	hash string // audit rows: the chain hash
}

// archiveTable describes how one table is archived.
type archiveTable struct {
	name  string // archive subdirectory and archive_files.tbl
	table string // the SQL table
	age   func(RetentionPolicy) time.Duration
	// selectRows reads up to limit rows older than cutoff (unix ms), in the
	// order they go to the archive.
	selectRows func(ctx context.Context, tx *sql.Tx, cutoff int64, limit int) ([]archiveRow, error)
}

// archiveTables lists the archived tables in the order retention handles them.
func archiveTables() []archiveTable {
	return []archiveTable{
		{name: "metrics", table: "metrics", age: func(p RetentionPolicy) time.Duration { return p.Metrics },
			selectRows: selectArchiveMetrics},
		{name: "alerts", table: "alerts", age: func(p RetentionPolicy) time.Duration { return p.Data },
			selectRows: selectArchiveAlerts},
		{name: "audit", table: "audit_log", age: func(p RetentionPolicy) time.Duration { return p.Data },
			selectRows: selectArchiveAudit},
	}
}

// metricLine is a metrics archive line. host is the device's hostname when
// archived, since the device may be gone when the archive is read.
type metricLine struct {
	ID       int64   `json:"id"`
	DeviceID int64   `json:"device_id"`
	Host     string  `json:"host"`
	Type     string  `json:"type"`
	Instance string  `json:"instance"`
	Value    float64 `json:"value"`
	TS       int64   `json:"ts"` // unix ms, UTC
}

func selectArchiveMetrics(ctx context.Context, tx *sql.Tx, cutoff int64, limit int) ([]archiveRow, error) {
	rows, err := tx.QueryContext(ctx, `SELECT m.id, m.device_id, coalesce(d.hostname, ''), m.type, m.instance, m.value, m.ts
		FROM metrics m LEFT JOIN devices d ON d.id = m.device_id
		WHERE m.ts < ? ORDER BY m.ts, m.id LIMIT ?`, cutoff, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []archiveRow
	for rows.Next() {
		var m metricLine
		if err := rows.Scan(&m.ID, &m.DeviceID, &m.Host, &m.Type, &m.Instance, &m.Value, &m.TS); err != nil {
			return nil, err
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("row %d: encode: %w", m.ID, err)
		}
		out = append(out, archiveRow{id: m.ID, ts: m.TS, line: b})
	}
	return out, rows.Err()
}

// alertLine is an alerts archive line: every column, times as unix ms.
type alertLine struct {
	ID           int64   `json:"id"`
	DeviceID     *int64  `json:"device_id"`
	Host         string  `json:"host"`
	Type         string  `json:"type"`
	Instance     string  `json:"instance"`
	Severity     string  `json:"severity"`
	State        string  `json:"state"`
	Message      string  `json:"message"`
	Count        int64   `json:"count"`
	FirstSeen    int64   `json:"first_seen"`
	LastSeen     int64   `json:"last_seen"`
	AckedBy      *string `json:"acked_by"`
	AckedAt      *int64  `json:"acked_at"`
	AckNote      string  `json:"ack_note"`
	ResolvedBy   *string `json:"resolved_by"`
	ResolvedAt   *int64  `json:"resolved_at"`
	ResolveNote  string  `json:"resolve_note"`
	AutoResolved bool    `json:"auto_resolved"`
}

// selectArchiveAlerts reads resolved alerts by resolution time (the last
// time seen for one resolved without a time). The index is named because
// the planner, without statistics, would rather sort every resolved alert
// in each batch.
func selectArchiveAlerts(ctx context.Context, tx *sql.Tx, cutoff int64, limit int) ([]archiveRow, error) {
	rows, err := tx.QueryContext(ctx, `SELECT a.id, a.device_id, coalesce(d.hostname, ''), a.type, a.instance, a.severity,
		a.state, a.message, a.count, a.first_seen, a.last_seen, a.acked_by, a.acked_at, a.ack_note, a.resolved_by,
		a.resolved_at, a.resolve_note, a.auto_resolved, coalesce(a.resolved_at, a.last_seen) AS done
		FROM alerts a INDEXED BY alerts_resolved_done LEFT JOIN devices d ON d.id = a.device_id
		WHERE a.state = 'Resolved' AND coalesce(a.resolved_at, a.last_seen) < ?
		ORDER BY coalesce(a.resolved_at, a.last_seen), a.id LIMIT ?`, cutoff, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []archiveRow
	for rows.Next() {
		var (
			a                  alertLine
			deviceID           sql.NullInt64
			ackedBy, resolveBy sql.NullString
			ackedAt, resolveAt sql.NullInt64
			done               int64
		)
		if err := rows.Scan(&a.ID, &deviceID, &a.Host, &a.Type, &a.Instance, &a.Severity, &a.State, &a.Message, &a.Count,
			&a.FirstSeen, &a.LastSeen, &ackedBy, &ackedAt, &a.AckNote, &resolveBy, &resolveAt, &a.ResolveNote,
			&a.AutoResolved, &done); err != nil {
			return nil, err
		}
		a.DeviceID = nullInt(deviceID)
		a.AckedAt, a.ResolvedAt = nullInt(ackedAt), nullInt(resolveAt)
		a.AckedBy, a.ResolvedBy = nullString(ackedBy), nullString(resolveBy)
		b, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("row %d: encode: %w", a.ID, err)
		}
		out = append(out, archiveRow{id: a.ID, ts: done, line: b})
	}
	return out, rows.Err()
}

func nullInt(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
}

func nullString(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	return &v.String
}

// selectArchiveAudit reads the oldest audit rows in chain order and keeps
// the prefix older than cutoff: the chain leaves the database from its
// start only, so a row stays while an older-id row is still young.
func selectArchiveAudit(ctx context.Context, tx *sql.Tx, cutoff int64, limit int) ([]archiveRow, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []archiveRow
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		if toMS(e.At) >= cutoff {
			break
		}
		b, err := encodeAuditLine(e)
		if err != nil {
			return nil, fmt.Errorf("row %d: encode: %w", e.ID, err)
		}
		out = append(out, archiveRow{id: e.ID, ts: toMS(e.At), line: b, hash: e.Hash})
	}
	return out, rows.Err()
}

// dayOf is the UTC day of a unix ms timestamp, as archive files name it.
func dayOf(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.DateOnly) }

// ApplyRetention moves old rows from the database to compressed archive
// files under archiveDir, then removes archive files past the archive
// retention. Metric samples older than p.Metrics, alerts resolved more than
// p.Data ago and audit rows older than p.Data (oldest first, as a prefix of
// the chain) are appended to <archiveDir>/<table>/<UTC day>.jsonl.gz and
// deleted, p.BatchRows rows per write transaction, so the Writer and other
// writers get the write lock between batches. Each batch's archive member
// is fsynced before the transaction that deletes its rows and records the
// file's committed length (see archive.go), so a crash at any point loses
// no row and a re-run archives no row twice. Archived audit rows keep their
// hashes; the last one becomes the anchor the rest of the chain in the
// database starts from (see VerifyAudit, VerifyAuditWithArchive).
//
// now is the reference time for every cutoff. One archive directory
// belongs to one database.
func (db *DB) ApplyRetention(ctx context.Context, archiveDir string, p RetentionPolicy, now time.Time) (RetentionReport, error) {
	start := time.Now()
	var rep RetentionReport
	p, err := p.withDefaults()
	if err != nil {
		return rep, fmt.Errorf("retention: %w", err)
	}
	if archiveDir == "" {
		return rep, errors.New("retention: empty archive directory")
	}
	if err := os.MkdirAll(archiveDir, 0o700); err != nil {
		return rep, fmt.Errorf("retention: create archive directory: %w", err)
	}
	written := map[string]bool{}
	// The audit key is read (and the chain keyed, on first use) before any
	// write transaction: reading a vault takes about a second.
	chainErr := db.prepareChain(ctx)
	for _, t := range archiveTables() {
		if t.name == "audit" && chainErr != nil {
			return rep.done(written, start), fmt.Errorf("retention: archive audit_log: %w", chainErr)
		}
		cutoff := toMS(now.Add(-t.age(p)))
		for {
			if err := ctx.Err(); err != nil {
				return rep.done(written, start), fmt.Errorf("retention: archive %s: %w", t.table, err)
			}
			moved, more, err := db.archiveBatch(ctx, archiveDir, t, cutoff, p.BatchRows, written)
			switch t.name {
			case "metrics":
				rep.MetricsArchived += moved
			case "alerts":
				rep.AlertsArchived += moved
			case "audit":
				rep.AuditArchived += moved
			}
			if err != nil {
				return rep.done(written, start), fmt.Errorf("retention: archive %s to %s: %w", t.table, archiveDir, err)
			}
			if !more {
				break
			}
		}
	}
	before := dayOf(toMS(now.Add(-p.Archive)))
	if err := db.pruneArchive(ctx, archiveDir, before, &rep); err != nil {
		return rep.done(written, start), fmt.Errorf("retention: remove old archives in %s: %w", archiveDir, err)
	}
	return rep.done(written, start), nil
}

func (r RetentionReport) done(written map[string]bool, start time.Time) RetentionReport {
	r.FilesWritten = r.FilesWritten[:0]
	for f := range written {
		r.FilesWritten = append(r.FilesWritten, f)
	}
	sort.Strings(r.FilesWritten)
	sort.Strings(r.FilesRemoved)
	r.Took = time.Since(start)
	return r
}

// archiveBatch moves one batch of t's rows older than cutoff to the
// archive in one write transaction. more is true when another batch may
// follow. written collects the archive files appended to.
func (db *DB) archiveBatch(ctx context.Context, dir string, t archiveTable, cutoff int64, limit int,
	written map[string]bool) (moved int64, more bool, err error) {
	now := toMS(db.now())
	var paths []string
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := t.selectRows(ctx, tx, cutoff, limit)
		if err != nil {
			return fmt.Errorf("read rows: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		files := groupByDay(t.name, rows)

		// A file gets its archive_files row in a transaction of its own
		// before the first byte is written to it.
		registered := false
		for _, f := range files {
			ok, err := loadArchiveFile(ctx, tx, f)
			if err != nil {
				return err
			}
			if !ok {
				if err := registerArchiveFile(ctx, tx, dir, t.name, f.rel, now); err != nil {
					return err
				}
				registered = true
			}
		}
		if registered {
			more = true // commit the records, then take the batch again
			return nil
		}

		for _, f := range files {
			path := filepath.Join(dir, filepath.FromSlash(f.rel))
			lines := make([][]byte, len(f.rows))
			for i, r := range f.rows {
				lines[i] = r.line
			}
			size, fresh, err := appendMember(path, f.bytes, lines)
			if err != nil {
				return fmt.Errorf("append to %s: %w", path, err)
			}
			paths = append(paths, path)
			if fresh {
				f.count, f.minID, f.maxID, f.lastHash = 0, sql.NullInt64{}, sql.NullInt64{}, ""
			}
			f.bytes = size
			f.count += int64(len(f.rows))
			for _, r := range f.rows {
				if !f.minID.Valid || r.id < f.minID.Int64 {
					f.minID = sql.NullInt64{Int64: r.id, Valid: true}
				}
				if !f.maxID.Valid || r.id >= f.maxID.Int64 {
					f.maxID = sql.NullInt64{Int64: r.id, Valid: true}
					f.lastHash = r.hash
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE archive_files SET bytes = ?, rows = ?, min_id = ?, max_id = ?,
				last_hash = ?, updated_at = ? WHERE path = ?`,
				f.bytes, f.count, f.minID, f.maxID, f.lastHash, now, f.rel); err != nil {
				return fmt.Errorf("record archive file %s: %w", f.rel, err)
			}
		}

		ids := make([]int64, len(rows))
		for i, r := range rows {
			ids[i] = r.id
		}
		idList, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		if t.name == "audit" {
			// The anchor moves first: the trigger that keeps audit rows
			// from being deleted lets through only rows up to it.
			last := rows[len(rows)-1] // rows are in chain order
			if err := db.setAuditAnchor(ctx, tx, "archived", last.id, last.hash, now); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM `+t.table+` WHERE id IN (SELECT value FROM json_each(?))`, string(idList))
		if err != nil {
			return fmt.Errorf("delete archived rows: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(rows)) {
			return fmt.Errorf("delete archived rows: deleted %d of %d (%v)", n, len(rows), err)
		}
		moved = int64(len(rows))
		more = len(rows) == limit
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	for _, p := range paths {
		written[p] = true
	}
	return moved, more, nil
}

// groupByDay splits rows by the UTC day of their time, keeping their
// order, into the day files of table name, oldest day first.
func groupByDay(name string, rows []archiveRow) []*archiveFile {
	byDay := map[string]*archiveFile{}
	var out []*archiveFile
	for _, r := range rows {
		day := dayOf(r.ts)
		f := byDay[day]
		if f == nil {
			f = &archiveFile{rel: name + "/" + day + ".jsonl.gz"}
			byDay[day] = f
			out = append(out, f)
		}
		f.rows = append(f.rows, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out
}

// setAuditAnchor records an archive anchor, with its MAC once the chain
// is keyed (the key must be usable: see prepareChain).
func (db *DB) setAuditAnchor(ctx context.Context, tx *sql.Tx, kind string, id int64, hash string, now int64) error {
	h, err := db.txHasher(ctx, tx)
	if err != nil {
		return fmt.Errorf("record audit anchor %s: %w", kind, err)
	}
	mac := ""
	if h.keyedFrom > 0 {
		mac = anchorMAC(h.key, kind, id, hash)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_anchor (kind, last_id, last_hash, updated_at, mac)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind) DO UPDATE SET
		last_id = excluded.last_id, last_hash = excluded.last_hash, updated_at = excluded.updated_at, mac = excluded.mac`,
		kind, id, hash, now, mac); err != nil {
		return fmt.Errorf("record audit anchor %s: %w", kind, err)
	}
	return nil
}

// prunable is an archive file old enough to remove.
type prunable struct {
	rel      string
	recorded bool
	maxID    sql.NullInt64
	lastHash string
}

// pruneArchive removes the archive files of days before the day before
// (YYYY-MM-DD), on disk or only recorded. For each, its record goes first
// (with the audit chain's pruned anchor moved past its rows), then the
// file: a crash in between leaves an unrecorded old file, which the next
// run removes.
func (db *DB) pruneArchive(ctx context.Context, dir, before string, rep *RetentionReport) error {
	now := toMS(db.now())
	for _, t := range archiveTables() {
		old := map[string]*prunable{}
		entries, err := os.ReadDir(filepath.Join(dir, t.name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, e := range entries {
			if m := dayFileName.FindStringSubmatch(e.Name()); m != nil && !e.IsDir() && m[1] < before {
				rel := t.name + "/" + e.Name()
				old[rel] = &prunable{rel: rel}
			}
		}
		if err := oldRecords(ctx, db.reader, t.name, before, old); err != nil {
			return err
		}
		list := make([]*prunable, 0, len(old))
		for _, p := range old {
			list = append(list, p)
		}
		// Audit files go in chain order, so the pruned anchor only moves forward.
		sort.Slice(list, func(i, j int) bool {
			a, b := list[i], list[j]
			if a.maxID.Int64 != b.maxID.Int64 {
				return a.maxID.Int64 < b.maxID.Int64
			}
			return a.rel < b.rel
		})
		for _, p := range list {
			if err := ctx.Err(); err != nil {
				return err
			}
			if p.recorded {
				err := db.writeTx(ctx, func(tx *sql.Tx) error {
					if _, err := tx.ExecContext(ctx, `DELETE FROM archive_files WHERE path = ?`, p.rel); err != nil {
						return fmt.Errorf("forget archive file %s: %w", p.rel, err)
					}
					if t.name != "audit" || !p.maxID.Valid {
						return nil
					}
					id, _, _, err := auditAnchor(ctx, tx, "pruned")
					if err != nil || p.maxID.Int64 <= id {
						return err
					}
					return db.setAuditAnchor(ctx, tx, "pruned", p.maxID.Int64, p.lastHash, now)
				})
				if err != nil {
					return err
				}
			}
			path := filepath.Join(dir, filepath.FromSlash(p.rel))
			switch err := os.Remove(path); {
			case err == nil:
				rep.FilesRemoved = append(rep.FilesRemoved, path)
			case !errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("remove %s: %w", path, err)
			}
		}
	}
	return nil
}

// oldRecords adds to old the recorded archive files of tbl whose day is
// before before.
func oldRecords(ctx context.Context, db *sql.DB, tbl, before string, old map[string]*prunable) error {
	rows, err := db.QueryContext(ctx, `SELECT path, max_id, last_hash FROM archive_files WHERE tbl = ?`, tbl)
	if err != nil {
		return fmt.Errorf("read archive_files: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p := &prunable{recorded: true}
		if err := rows.Scan(&p.rel, &p.maxID, &p.lastHash); err != nil {
			return fmt.Errorf("read archive_files: %w", err)
		}
		m := dayFileName.FindStringSubmatch(strings.TrimPrefix(p.rel, tbl+"/"))
		if m == nil || m[1] >= before {
			continue
		}
		old[p.rel] = p
	}
	return rows.Err()
}
