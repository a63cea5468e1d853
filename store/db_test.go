package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openTestDB opens a fresh database file in a temporary directory and
// closes it when the test ends.
func openTestDB(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "rmm.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// dump renders every row of every table, so a test can assert that an
// operation changed nothing at all.
func dump(t *testing.T, db *DB) string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.reader.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, table := range tables {
		fmt.Fprintf(&b, "== %s\n", table)
		rows, err := db.reader.QueryContext(ctx, `SELECT * FROM `+table+` ORDER BY 1, 2`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	var uv int
	db.reader.QueryRowContext(ctx, "PRAGMA user_version").Scan(&uv)
	fmt.Fprintf(&b, "user_version %d\n", uv)
	return b.String()
}

func TestOpenCreatesPrivateDirectoryAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "rmm", "rmm.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	for _, c := range []struct {
		name string
		want os.FileMode
	}{
		{filepath.Dir(path), 0o700 | os.ModeDir},
		{path, 0o600},
	} {
		fi, err := os.Stat(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.want {
			t.Errorf("%s: mode %v, want %v", c.name, fi.Mode(), c.want)
		}
	}
}

func TestOpenRefusesNonFilePaths(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "a?b.db")} {
		if db, err := Open(context.Background(), path); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		} else if !strings.HasPrefix(err.Error(), "open DB "+path+": ") {
			t.Errorf("Open(%q): error %q does not name the path", path, err)
		}
	}
}

func TestPragmasAreInEffectOnEveryPooledConnection(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	want := map[string]string{
		"journal_mode": "wal",
		"busy_timeout": "5000",
		"foreign_keys": "1",
		"synchronous":  "1", // NORMAL
	}
	check := func(t *testing.T, pool string, c *sql.Conn, queryOnly string) {
		for name, w := range want {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", pool, name, err)
			}
			if got != w {
				t.Errorf("%s: PRAGMA %s = %s, want %s", pool, name, got, w)
			}
		}
		var got string
		if err := c.QueryRowContext(ctx, "PRAGMA query_only").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != queryOnly {
			t.Errorf("%s: PRAGMA query_only = %s, want %s", pool, got, queryOnly)
		}
	}
	// Hold several reader connections at once so the pool must open new ones.
	var conns []*sql.Conn
	for range 3 {
		c, err := db.reader.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		check(t, fmt.Sprintf("reader %d", i), c, "1")
	}
	for _, c := range conns {
		c.Close()
	}
	c, err := db.writer.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check(t, "writer", c, "0")
}
