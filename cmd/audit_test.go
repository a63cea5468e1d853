package cmd

import (
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the attacker's sqlite3
)

// tamperDB runs SQL on an rmm database as someone with sqlite3 and write
// access to the file would, after dropping the append-only triggers.
func tamperDB(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range append([]string{
		`DROP TRIGGER IF EXISTS audit_log_append_only`, `DROP TRIGGER IF EXISTS audit_log_no_delete`,
		`DROP TRIGGER IF EXISTS audit_anchor_no_delete`, `DROP TRIGGER IF EXISTS audit_anchor_forward_only`,
	}, stmts...) {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// copyDB copies an rmm database and its anchor file to a new directory
// and returns the new database path.
func copyDB(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "rmm.db")
	for _, suffix := range []string{"", ".audit-anchor"} {
		in, err := os.Open(from + suffix)
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.OpenFile(to+suffix, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
	return to
}

// TestAuditVerifyCatchesTheTamperingAPlainChainMissed drives rmm audit
// verify on a chain keyed with a key in the vault (the report's F6 cases
// that exited 0 before) and on a process that cannot read the key.
func TestAuditVerifyCatchesTheTamperingAPlainChainMissed(t *testing.T) {
	c := newCLI(t)
	c.env["RMM_VAULT_PASSPHRASE"] = "audit-test-passphrase"
	good := filepath.Join("..", "testdata", "csv", "good.csv")
	for range 3 {
		if code, _, errb := c.run("import", good); code != 0 {
			t.Fatalf("import: %s", errb)
		}
	}
	code, out, errb := c.run("audit", "verify")
	if code != 0 || !strings.Contains(out, "keyed from row 1") {
		t.Fatalf("audit verify of an untouched chain: exit %d\n%s%s", code, out, errb)
	}
	// The last row's id: each import is a pending row and its outcome.
	head := strings.Fields(out[strings.Index(out, "last row "):])
	last, lastHash := head[2], head[4] // "last row N hash H"
	if !strings.Contains(out, "anchor: row "+last+" ") {
		t.Fatalf("the anchor is not the last row %s:\n%s", last, out)
	}
	dbPath := filepath.Join(c.home, ".local", "share", "rmm", "rmm.db")
	if _, err := os.Stat(dbPath + ".audit-anchor"); err != nil {
		t.Fatalf("no anchor file beside the database: %v", err)
	}

	tests := []struct {
		name   string
		stmts  []string
		reason string
	}{
		// rmm puts the dropped triggers back when it opens the database and
		// audits that as row 4 again: the anchor shows the swap.
		{"the last row deleted", []string{`DELETE FROM audit_log WHERE id = ` + last}, "row " + last + " is not the row the audit anchor"},
		{"a row edited and its hash replaced",
			[]string{`UPDATE audit_log SET user = 'mallory' WHERE id = 3`,
				`UPDATE audit_log SET hash = lower(hex(randomblob(32))) WHERE id >= 3`}, "row 3: hash mismatch"},
		{"a forged archive anchor over deleted first rows",
			[]string{`INSERT INTO audit_anchor (kind, last_id, last_hash, updated_at) VALUES ('archived', 2, (SELECT hash FROM audit_log WHERE id = 2), 0)`,
				`DELETE FROM audit_log WHERE id <= 2`}, "archived anchor (row 2) does not match its MAC"},
		{"the keying record removed", []string{`DROP TRIGGER IF EXISTS audit_chain_no_delete`, `DELETE FROM audit_chain`},
			"has no keying record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := copyDB(t, dbPath)
			tamperDB(t, db, tt.stmts...)
			code, out, errb := c.run("--db", db, "audit", "verify")
			if code != 4 || !strings.Contains(errb, tt.reason) {
				t.Errorf("exit %d, want 4 saying %q\n%s%s", code, tt.reason, out, errb)
			}
		})
	}

	t.Run("without the key the chain cannot be checked", func(t *testing.T) {
		delete(c.env, "RMM_VAULT_PASSPHRASE")
		defer func() { c.env["RMM_VAULT_PASSPHRASE"] = "audit-test-passphrase" }()
		code, out, errb := c.run("audit", "verify")
		if code != 1 || !strings.Contains(errb, "audit chain is keyed from row 1") {
			t.Errorf("exit %d, want 1 naming the keyed chain\n%s%s", code, out, errb)
		}
	})

	t.Run("an expected head", func(t *testing.T) {
		want := last + ":" + lastHash
		if code, out, errb := c.run("audit", "verify", "--expect-head", want); code != 0 {
			t.Errorf("the head just printed: exit %d\n%s%s", code, out, errb)
		}
		if code, _, errb := c.run("audit", "verify", "--expect-head", "4:abc"); code != 2 {
			t.Errorf("a malformed head: exit %d, want 2 (%s)", code, errb)
		}
		db := copyDB(t, dbPath)
		tamperDB(t, db, `DELETE FROM audit_log WHERE id = `+last)
		if code, out, errb := c.run("--db", db, "audit", "verify", "--expect-head", want); code != 4 {
			t.Errorf("a cut chain: exit %d, want 4\n%s%s", code, out, errb)
		}
	})
}
