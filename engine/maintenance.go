package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rmmhq/rmm/engine/winrm"
	"github.com/rmmhq/rmm/store"
)

// MaintainDB archives rows past retention, removes old archive files,
// checks integrity, ANALYZEs and (when Vacuum) VACUUMs the database.
type MaintainDB struct {
	ArchiveDir    string
	Retention     store.RetentionPolicy
	Vacuum        bool
	RetentionOnly bool      // archive and delete old rows only (the daily cleanup)
	Now           time.Time // zero: now
	// Rollups: metric samples are rolled up (store.RollUp) before any is
	// archived; daily rollups older than RollupsDaily and hourly ones older
	// than RollupsHourly are deleted (zero: DefaultRollupsDaily,
	// DefaultRollupsHourly).
	RollupsDaily, RollupsHourly time.Duration
}

// Rollup retention defaults (retention.rollups, retention.rollups_hourly).
const (
	DefaultRollupsDaily  = 395 * 24 * time.Hour
	DefaultRollupsHourly = 62 * 24 * time.Hour
)

// MaintainResult is what MaintainDB did.
type MaintainResult struct {
	Rollups       store.RollupReport    `json:"rollups"`
	RollupsPruned int64                 `json:"rollups_pruned"`
	Retention     store.RetentionReport `json:"retention"`
	Maintain      store.MaintainReport  `json:"maintain"`
}

// Action implements Request.
func (MaintainDB) Action() string { return "db.maintain" }

// Permission implements Request.
func (MaintainDB) Permission() Permission { return PermConfigEdit }

// Mutating implements Request.
func (MaintainDB) Mutating() bool { return true }

// Targets implements Request.
func (r MaintainDB) Targets() []string { return []string{"database"} }

// Details implements Request.
func (r MaintainDB) Details() map[string]any {
	return map[string]any{"archive_dir": r.ArchiveDir, "vacuum": r.Vacuum, "retention_only": r.RetentionOnly,
		"retention_metrics": r.Retention.Metrics.String(), "retention_data": r.Retention.Data.String()}
}

func (r MaintainDB) run(ctx context.Context, e *Engine, _ Identity) (MaintainResult, error) {
	if r.ArchiveDir == "" {
		return MaintainResult{}, errors.New("maintain: no archive directory configured (store.archive_dir)")
	}
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	var res MaintainResult
	// Pending batches first, so retention sees every row written so far.
	if err := e.writer.Flush(ctx); err != nil {
		return res, fmt.Errorf("maintain: flush: %w", err)
	}
	// Every sample is in the rollups before retention archives it, so
	// reports reach back past retention.metrics.
	roll, err := e.db.RollUp(ctx, 0)
	res.Rollups = roll
	if err != nil {
		return res, fmt.Errorf("maintain: %w", err)
	}
	daily, hourly := cmp.Or(r.RollupsDaily, DefaultRollupsDaily), cmp.Or(r.RollupsHourly, DefaultRollupsHourly)
	if res.RollupsPruned, err = e.db.PruneRollups(ctx, now.Add(-hourly), now.Add(-daily)); err != nil {
		return res, fmt.Errorf("maintain: %w", err)
	}
	rep, err := e.db.ApplyRetention(ctx, r.ArchiveDir, r.Retention, now)
	res.Retention = rep
	if err != nil {
		return res, fmt.Errorf("maintain: retention: %w", err)
	}
	if r.RetentionOnly {
		e.log.Info("retention applied", "metrics_archived", rep.MetricsArchived, "alerts_archived", rep.AlertsArchived,
			"audit_archived", rep.AuditArchived, "files_removed", len(rep.FilesRemoved))
		return res, nil
	}
	m, err := e.db.Maintain(ctx, r.Vacuum)
	res.Maintain = m
	if err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			e.setFatal(&winrm.Error{Class: winrm.ClassFatal, Step: "integrity check", Err: err})
		}
		return res, fmt.Errorf("maintain: %w", err)
	}
	e.log.Info("database maintained", "metrics_archived", rep.MetricsArchived, "alerts_archived", rep.AlertsArchived,
		"audit_archived", rep.AuditArchived, "bytes_before", m.BytesBefore, "bytes_after", m.BytesAfter, "integrity", m.Integrity)
	return res, nil
}

// BackupDB writes a consistent copy of the database (VACUUM INTO) while
// the engine keeps running.
type BackupDB struct{ Dest string }

// Action implements Request.
func (BackupDB) Action() string { return "db.backup" }

// Permission implements Request.
func (BackupDB) Permission() Permission { return PermConfigEdit }

// Mutating implements Request: it writes a file with every row.
func (BackupDB) Mutating() bool { return true }

// Targets implements Request.
func (r BackupDB) Targets() []string { return []string{r.Dest} }

// Details implements Request.
func (r BackupDB) Details() map[string]any { return map[string]any{"dest": r.Dest} }

func (r BackupDB) run(ctx context.Context, e *Engine, _ Identity) (None, error) {
	if r.Dest == "" {
		return None{}, errors.New("backup: no destination file")
	}
	if err := e.writer.Flush(ctx); err != nil {
		return None{}, fmt.Errorf("backup: flush: %w", err)
	}
	return None{}, e.db.Backup(ctx, r.Dest)
}
