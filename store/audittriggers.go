package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
)

// auditTriggers are the triggers that keep the audit tables append-only,
// exactly as the migrations create them (0001, 0010; a test compares).
// Anyone who can write the database file can drop them; rmm puts them
// back every time it opens the database, and audits that it had to.
var auditTriggers = []struct{ name, sql string }{
	{"audit_log_append_only", `CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END`},
	{"audit_log_no_delete", `CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.id > coalesce((SELECT last_id FROM audit_anchor WHERE kind = 'archived'), 0)
BEGIN
    SELECT RAISE(ABORT, 'audit_log rows leave only through retention, after they were archived');
END`},
	{"audit_anchor_forward_only", `CREATE TRIGGER audit_anchor_forward_only BEFORE UPDATE ON audit_anchor
WHEN NEW.last_id < OLD.last_id OR NEW.kind <> OLD.kind
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor only moves forward');
END`},
	{"audit_anchor_no_delete", `CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor rows are never deleted');
END`},
	{"audit_chain_write_once", `CREATE TRIGGER audit_chain_write_once BEFORE UPDATE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'audit_chain is written once');
END`},
	{"audit_chain_no_delete", `CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'audit_chain is written once');
END`},
}

// sameSQL compares two statements ignoring the amount of white space.
func sameSQL(a, b string) bool {
	return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
}

// restoreAuditTriggers puts back every audit trigger that is missing or
// was replaced by another statement, and drops any other trigger on the
// audit tables (one that rewrites or deletes rows after an insert, say),
// in one transaction. It returns what it changed: trigger names, the
// dropped ones as "dropped NAME".
func (db *DB) restoreAuditTriggers(ctx context.Context) ([]string, error) {
	have, err := db.auditTriggerSQL(ctx, db.writer)
	if err != nil {
		return nil, err
	}
	var bad, extra []string
	known := map[string]bool{}
	for _, t := range auditTriggers {
		known[t.name] = true
		if s, ok := have[t.name]; !ok || !sameSQL(s, t.sql) {
			bad = append(bad, t.name)
		}
	}
	for name := range have {
		if !known[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	if len(bad) == 0 && len(extra) == 0 {
		return nil, nil
	}
	changed := append([]string(nil), bad...)
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, name := range extra {
			// The name comes from sqlite_schema; quote it as an identifier.
			if _, err := tx.ExecContext(ctx, `DROP TRIGGER IF EXISTS "`+strings.ReplaceAll(name, `"`, `""`)+`"`); err != nil {
				return fmt.Errorf("drop trigger %q: %w", name, err)
			}
			changed = append(changed, "dropped "+name)
		}
		for _, t := range auditTriggers {
			for _, name := range bad {
				if name != t.name {
					continue
				}
				if _, err := tx.ExecContext(ctx, `DROP TRIGGER IF EXISTS `+t.name); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, t.sql); err != nil {
					return fmt.Errorf("create %s: %w", t.name, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("restore audit triggers %s: %w", strings.Join(changed, ", "), err)
	}
	return changed, nil
}

// auditTriggerSQL returns the SQL of the audit tables' triggers by name.
func (db *DB) auditTriggerSQL(ctx context.Context, q *sql.DB) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, coalesce(sql, '') FROM sqlite_schema WHERE type = 'trigger'
		AND tbl_name IN ('audit_log', 'audit_anchor', 'audit_chain')`)
	if err != nil {
		return nil, fmt.Errorf("read audit triggers: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, s string
		if err := rows.Scan(&name, &s); err != nil {
			return nil, fmt.Errorf("read audit triggers: %w", err)
		}
		out[name] = s
	}
	return out, rows.Err()
}
