package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmmhq/rmm/engine"
	"github.com/rmmhq/rmm/store"
)

// auditEngine opens the store and an engine for audit commands.
func (a *app) withEngine(cmd *cobra.Command, fn func(eng *engine.Engine, id engine.Identity) error) error {
	id, err := a.localIdentity(engine.ViaCLI)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	db, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	eng, err := engine.New(ctx, db, a.engineOptions(engine.Credential{}))
	if err != nil {
		return err
	}
	defer eng.Close()
	eng.SetConfigCollections(a.cfg.Collections)
	return fn(eng, id)
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && days > 0 {
			return now.Add(-time.Duration(days) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: use a duration (24h, 7d) or a date (2026-11-01, 2026-11-01T08:00)", s)
}

func (a *app) auditCommand() *cobra.Command {
	var (
		since, user, action, result string
		limit                       int
		asJSON                      bool
	)
	filter := func() (store.AuditFilter, error) {
		t, err := parseSince(since, time.Now())
		if err != nil {
			return store.AuditFilter{}, exitError{2, err}
		}
		return store.AuditFilter{Since: t, User: user, Action: action, Result: result, Limit: limit}, nil
	}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List, verify and export the tamper-evident audit log",
		Long: `List the audit log: every request that changed something, and every refused
one, with UTC time, user, role, front end, client address, action, targets,
result (success, failure, denied) and parameters (secrets redacted).

Rows are hash-chained: each stores the SHA-256 of its content and the
previous row's hash, so rmm audit verify detects an edited, inserted or
deleted row. Admin and Operator may read the audit log; Viewer may not.`,
		Example: `  rmm audit --since 24h
  rmm audit --user alice --json
  rmm audit verify
  rmm audit export --format csv > audit.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := filter()
			if err != nil {
				return err
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				rows, err := engine.Call(cmd.Context(), eng, id, engine.ListAudit{Filter: f})
				if err != nil {
					return err
				}
				if asJSON {
					if rows == nil {
						rows = []store.AuditEntry{}
					}
					enc := json.NewEncoder(a.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(rows)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tTIME (UTC)\tUSER\tROLE\tVIA\tFROM\tACTION\tRESULT\tTARGETS")
				for _, r := range rows {
					targets := strings.Join(r.Targets, ",")
					if len(targets) > 60 {
						targets = targets[:57] + "..."
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.At.UTC().Format("2006-01-02 15:04:05"),
						r.User, r.Role, r.Via, r.RemoteAddr, r.Action, r.Result, targets)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%d rows\n", len(rows))
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "", "only rows since a duration ago (24h, 7d) or a date (2026-11-01)")
	fl.StringVar(&user, "user", "", "only rows of this user")
	fl.StringVar(&action, "action", "", "only this action (e.g. devices.import)")
	fl.StringVar(&result, "result", "", "only this result: success, failure, denied")
	fl.IntVar(&limit, "limit", 0, "only the newest N rows (0: all)")
	fl.BoolVar(&asJSON, "json", false, "print a JSON array of rows (id, at, user, role, via, remote_addr, action, targets, result, details, prev_hash, hash)")

	var archive bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit hash chain; exit 0 when intact, 4 naming the first bad row",
		Long: `Check every audit row's hash and its link to the row before. Exit status 0
when the chain is intact; 4 when a row was edited, inserted or deleted, naming
the first bad row. With --archive the chain is checked from its start through
the archive files (rows moved there by retention) into the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				req := engine.VerifyAudit{}
				if archive {
					req.ArchiveDir = a.cfg.Store.ArchiveDir
				}
				v, err := engine.Call(cmd.Context(), eng, id, req)
				if err != nil {
					return err
				}
				if !v.OK {
					return exitError{4, fmt.Errorf("audit chain broken after %d rows: %s", v.Rows, v.Reason)}
				}
				fmt.Fprintf(a.stdout, "audit chain intact: %d rows, last row %d hash %s\n", v.Rows, v.LastID, v.LastHash)
				return nil
			})
		},
	}
	verify.Flags().BoolVar(&archive, "archive", false, "verify through the archive files in store.archive_dir too")

	var format string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the audit log as CSV or JSON to stdout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "csv" && format != "json" {
				return exitError{2, errors.New("--format must be csv or json")}
			}
			f, err := filter()
			if err != nil {
				return err
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				_, err := engine.Call(cmd.Context(), eng, id, engine.ExportAudit{Filter: f, Format: format, W: a.stdout})
				return err
			})
		},
	}
	export.Flags().StringVar(&format, "format", "csv", "csv or json")
	export.Flags().StringVar(&since, "since", "", "only rows since a duration ago or a date")
	export.Flags().StringVar(&user, "user", "", "only rows of this user")

	cmd.AddCommand(verify, export)
	return cmd
}
