package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMaintainReturnsTheSpaceOfDeletedRows(t *testing.T) {
	db := openTestDB(t)
	seedOldMetrics(t, db, seedDevices(t, db, 10))
	ctx := context.Background()
	if _, err := db.Maintain(ctx, false); err != nil { // checkpoint: the rows are in the main file
		t.Fatal(err)
	}
	rawExec(t, db, `DELETE FROM metrics`)
	rep, err := db.Maintain(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Integrity != "ok" || !rep.Analyzed || !rep.Vacuumed {
		t.Errorf("report %+v, want integrity ok, analyzed and vacuumed", rep)
	}
	if rep.BytesAfter >= rep.BytesBefore {
		t.Errorf("%d bytes after, %d before: VACUUM returned nothing", rep.BytesAfter, rep.BytesBefore)
	}
	if fi, err := os.Stat(db.Path() + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("WAL is %d bytes after a truncating checkpoint", fi.Size())
	}
	var n int
	db.reader.QueryRow(`SELECT count(*) FROM sqlite_stat1`).Scan(&n)
	if n == 0 {
		t.Error("ANALYZE left no statistics")
	}
}

func TestMaintainWithoutVacuumDoesNotVacuum(t *testing.T) {
	db := openTestDB(t)
	rep, err := db.Maintain(context.Background(), false)
	if err != nil || rep.Vacuumed || !rep.Analyzed || rep.Integrity != "ok" || rep.BytesBefore == 0 {
		t.Errorf("report %+v, %v", rep, err)
	}
}

func TestMaintainReportsACorruptDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmm.db")
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	seedOldMetrics(t, db, seedDevices(t, db, 10))
	if _, err := db.Maintain(ctx, false); err != nil { // move everything into the main file
		t.Fatal(err)
	}
	var pageSize, pages int64
	db.reader.QueryRow(`PRAGMA page_size`).Scan(&pageSize)
	db.reader.QueryRow(`PRAGMA page_count`).Scan(&pages)
	db.Close()

	// Scribble over the b-tree pages near the end of the file, where the
	// metrics rows are; page 1 (the schema) stays intact so Open works.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := []byte(strings.Repeat("\xff\x00", int(pageSize)/2))
	for p := pages - 5; p < pages; p++ {
		f.WriteAt(junk[:pageSize/2], p*pageSize)
	}
	f.Close()

	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := db.Maintain(ctx, true)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Maintain on a corrupt file: %v, want ErrCorrupt", err)
	}
	if !strings.HasPrefix(err.Error(), "maintain DB "+path+": ") {
		t.Errorf("error %q does not name the database", err)
	}
	if rep.Vacuumed || rep.Integrity == "ok" || rep.Integrity == "" {
		t.Errorf("report %+v, want the problems and no VACUUM", rep)
	}
	t.Logf("integrity: %.200s", rep.Integrity)
}

func TestMaintainListsTheProblemsIntegrityCheckFinds(t *testing.T) {
	db := openTestDB(t)
	seedOldMetrics(t, db, seedDevices(t, db, 2))
	// Redefine an index behind SQLite's back: its entries no longer match.
	c, err := db.writer.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`PRAGMA writable_schema = ON`,
		`UPDATE sqlite_schema SET sql = 'CREATE INDEX metrics_ts ON metrics (value)' WHERE name = 'metrics_ts'`,
		`PRAGMA writable_schema = OFF`,
	} {
		if _, err := c.ExecContext(context.Background(), q); err != nil {
			t.Skipf("cannot damage the schema here: %s: %v", q, err)
		}
	}
	c.Close()
	// Fresh connections read the damaged schema.
	path := db.Path()
	db.Close()
	db, err = Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := db.Maintain(context.Background(), true)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(rep.Integrity, "metrics_ts") || rep.Vacuumed || rep.Analyzed {
		t.Errorf("Maintain = %+v, %v; want ErrCorrupt, the index named, nothing else done", rep, err)
	}
	if !strings.Contains(err.Error(), "integrity check: database is corrupt: ") {
		t.Errorf("error %q", err)
	}
}

// countRows counts table's rows in the database at path, opened with Open.
func countRows(t *testing.T, path, table string) int {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.reader.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	return n
}
