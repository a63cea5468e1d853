package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/config"
	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

func retentionPolicy(c config.Config) store.RetentionPolicy {
	return store.RetentionPolicy{Metrics: c.Retention.Metrics, Data: c.Retention.Data, Archive: c.Retention.Archive}
}

func (a *app) dbCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Database maintenance: archive, VACUUM, integrity check, backup",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var asJSON, noVacuum bool
	maintain := &cobra.Command{
		Use:   "maintain",
		Short: "Archive old rows, remove old archives, check integrity, ANALYZE and VACUUM now",
		Long: `Run database maintenance now (the schedule runs it weekly, see schedules.maintenance):

  1. rows past retention go to compressed archive files (JSON lines, gzip, one
     file per table per UTC day under store.archive_dir), then are deleted in
     batches: metrics older than retention.metrics, resolved alerts and audit
     rows older than retention.data (audit rows keep their chain hashes, so
     rmm audit verify --archive still verifies them);
  2. archive files older than retention.archive are removed;
  3. PRAGMA integrity_check (a failure is Fatal: rmm stops scheduling);
  4. ANALYZE, then VACUUM (unless --no-vacuum) and a WAL checkpoint.

It prints what it did: rows archived, files written and removed, bytes
before and after. Admin only. Safe while a console runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				res, err := engine.Call(cmd.Context(), eng, id, engine.MaintainDB{
					ArchiveDir: a.cfg.Store.ArchiveDir, Retention: retentionPolicy(a.cfg), Vacuum: !noVacuum,
					RollupsDaily: a.cfg.Retention.Rollups, RollupsHourly: a.cfg.Retention.RollupsHourly,
				})
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(a.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(res)
				}
				r, m := res.Retention, res.Maintain
				fmt.Fprintf(a.stdout, "archived: %d metric rows, %d alerts, %d audit rows\n", r.MetricsArchived, r.AlertsArchived, r.AuditArchived)
				fmt.Fprintf(a.stdout, "archive files: %d written, %d removed (in %s)\n", len(r.FilesWritten), len(r.FilesRemoved), a.cfg.Store.ArchiveDir)
				fmt.Fprintf(a.stdout, "integrity: %s\n", m.Integrity)
				fmt.Fprintf(a.stdout, "size: %s -> %s (%s reclaimed); analyzed %v, vacuumed %v; took %s\n",
					bytesText(m.BytesBefore), bytesText(m.BytesAfter), bytesText(m.BytesBefore-m.BytesAfter), m.Analyzed, m.Vacuumed,
					(r.Took + m.Took).Round(1e6))
				return nil
			})
		},
	}
	maintain.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	maintain.Flags().BoolVar(&noVacuum, "no-vacuum", false, "skip VACUUM (it needs free disk space about the size of the database)")

	backup := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database to FILE while rmm runs",
		Long: `Write a consistent copy of the database (SQLite VACUUM INTO) to FILE. Writers
keep going while it runs. FILE must not exist; its directory must. Admin only.
A missing directory or an existing file is exit 2.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dest, err := filepath.Abs(args[0])
			if err != nil {
				return exitError{2, err}
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				if _, err := engine.Call(cmd.Context(), eng, id, engine.BackupDB{Dest: dest}); err != nil {
					if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) {
						return exitError{2, err}
					}
					return err
				}
				fmt.Fprintf(a.stdout, "backup written to %s\n", dest)
				return nil
			})
		},
	}
	cmd.AddCommand(maintain, backup)
	return cmd
}

func bytesText(n int64) string {
	neg := ""
	if n < 0 {
		neg, n = "-", -n
	}
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%s%.1f GiB", neg, float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%s%.1f MiB", neg, float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%s%.1f KiB", neg, float64(n)/(1<<10))
	}
	return fmt.Sprintf("%s%d B", neg, n)
}
