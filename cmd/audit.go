package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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

Rows are hash-chained: each stores a hash of its content and the previous
row's hash (an HMAC under the audit key once rmm has one), and the chain's
head is anchored outside the database, so rmm audit verify detects an
edited, inserted or deleted row and rows cut from the end. Admin and
Operator may read the audit log; Viewer may not.`,
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

	var (
		archive    bool
		expectHead string
	)
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit chain; exit 0 when intact, 4 naming the first bad row or the missing tail",
		Long: `Check every audit row's hash and its link to the row before, then compare the
chain with what rmm keeps outside the database.

Rows written once rmm had an audit key (kept in the OS keyring or the vault,
never in the database; made at first use) carry an HMAC-SHA256 under that
key, so someone who can write the database but does not hold the key cannot
recompute them; rows written before that keep their plain SHA-256 and are
pinned by the keyed rows after them. The chain's head is also written to an
anchor file beside the database (` + "`rmm.db.audit-anchor`" + `, signed with the key)
and to the log, so rows cut from the end are found.

Exit status 0 when the chain is intact; 4 when a row was edited, inserted or
deleted, the chain ends before its anchored head, an archive anchor or the
anchor file was forged, or the keying record was removed (naming the first
bad row or the reason); 1 when the chain could not be checked (for a keyed
chain: the key is not readable here). With --archive the chain is checked from
its start through the archive files (rows moved there by retention) into the
database. --expect-head ID:HASH checks a head you recorded elsewhere earlier
(this command prints it, the log has one per anchor).`,
		Example: `  rmm audit verify
  rmm audit verify --archive
  rmm audit verify --expect-head 1742:4be1...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := engine.VerifyAudit{}
			if archive {
				req.ArchiveDir = a.cfg.Store.ArchiveDir
			}
			if expectHead != "" {
				id, hash, ok := strings.Cut(expectHead, ":")
				n, err := strconv.ParseInt(id, 10, 64)
				if !ok || err != nil || n < 1 || len(hash) != 64 {
					return exitError{2, fmt.Errorf("--expect-head %q: want ROW:HASH, e.g. 1742:4be1... (64 hex digits)", expectHead)}
				}
				req.ExpectID, req.ExpectHash = n, strings.ToLower(hash)
			}
			return a.withEngine(cmd, func(eng *engine.Engine, id engine.Identity) error {
				v, err := engine.Call(cmd.Context(), eng, id, req)
				if err != nil {
					return err
				}
				for _, n := range v.Notes {
					fmt.Fprintf(a.stdout, "note: %s\n", n)
				}
				if !v.OK {
					return exitError{4, fmt.Errorf("audit chain broken after %d rows: %s", v.Rows, v.Reason)}
				}
				keyed := "not keyed"
				if v.Keyed {
					keyed = fmt.Sprintf("keyed from row %d (key %s)", v.KeyedFrom, v.KeyID)
				}
				fmt.Fprintf(a.stdout, "audit chain intact: %d rows, %s, last row %d hash %s\n", v.Rows, keyed, v.LastID, v.LastHash)
				if v.Anchor.HeadID > 0 {
					fmt.Fprintf(a.stdout, "anchor: row %d written %s (%s)\n", v.Anchor.HeadID,
						v.Anchor.At.UTC().Format(time.RFC3339), auditAnchorFile(a.cfg.Store.DB))
				}
				return nil
			})
		},
	}
	verify.Flags().BoolVar(&archive, "archive", false, "verify through the archive files in store.archive_dir too")
	verify.Flags().StringVar(&expectHead, "expect-head", "", "a head recorded earlier, ROW:HASH: the chain must still hold it")

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
