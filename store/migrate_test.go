package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func TestMigrationsOnAnEmptyDatabaseCreateTheSchema(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != SupportedSchemaVersion() || v < 1 {
		t.Errorf("schema version %d, want %d", v, SupportedSchemaVersion())
	}
	var uv int
	db.reader.QueryRowContext(ctx, "PRAGMA user_version").Scan(&uv)
	if uv != v {
		t.Errorf("user_version %d, want %d", uv, v)
	}
	var n int
	db.reader.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n)
	if n != v {
		t.Errorf("%d schema_migrations rows, want %d", n, v)
	}
	for _, table := range []string{"sites", "devices", "device_groups", "device_group_members", "inventory",
		"alerts", "actions", "metrics", "audit_log", "offline_queue"} {
		var c int
		db.reader.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&c)
		if c != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	for _, idx := range []string{"devices_site", "metrics_device_type_ts", "metrics_ts",
		"alerts_state_severity", "alerts_device", "audit_log_ts", "actions_device_started", "offline_queue_device_state"} {
		var c int
		db.reader.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, idx).Scan(&c)
		if c != 1 {
			t.Errorf("index %s missing", idx)
		}
	}
	var dropped int // 0008: no query uses it, every poll paid for it
	db.reader.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'devices_status'`).Scan(&dropped)
	if dropped != 0 {
		t.Error("index devices_status still exists after 0008")
	}
	sites, err := db.Sites(ctx)
	if err != nil || len(sites) != 1 || sites[0] != "main" {
		t.Errorf("Sites() = %v, %v; want [main]", sites, err)
	}
	var ic string
	db.reader.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ic)
	if ic != "ok" {
		t.Errorf("integrity_check: %s", ic)
	}
}

func TestReopeningAMigratedDatabaseAppliesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmm.db")
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	before := dump(t, db)
	db.Close()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer db.Close()
	if after := dump(t, db); after != before {
		t.Errorf("re-open changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestANewerSchemaIsRefused(t *testing.T) {
	future := SupportedSchemaVersion() + 1
	tests := []struct {
		name  string
		bump  string
		known int
	}{
		{"when user_version is ahead", fmt.Sprintf("PRAGMA user_version = %d", future), future},
		{"when schema_migrations has a future row", fmt.Sprintf("INSERT INTO schema_migrations VALUES (%d, 'future', 0)", future), future},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rmm.db")
			ctx := context.Background()
			db, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.writer.ExecContext(ctx, tt.bump); err != nil {
				t.Fatal(err)
			}
			db.Close()
			db, err = Open(ctx, path)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded on a newer schema")
			}
			want := "open DB " + path + ": database schema version " + strconv.Itoa(future) + " is newer than this rmm supports (" +
				strconv.Itoa(SupportedSchemaVersion()) + "); upgrade rmm"
			if err.Error() != want {
				t.Errorf("error\n got %q\nwant %q", err, want)
			}
			if !errors.Is(err, ErrSchemaTooNew) {
				t.Error("error does not wrap ErrSchemaTooNew")
			}
		})
	}
}

// rawWriter opens a writer pool on a new file without migrating it.
func rawWriter(t *testing.T) *sql.DB {
	t.Helper()
	w, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), "raw.db"), true))
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	t.Cleanup(func() { w.Close() })
	return w
}

func TestMigrationsApplyInOrderAndAFailedOneLeavesThePreviousVersion(t *testing.T) {
	ctx := context.Background()
	w := rawWriter(t)
	good := fstest.MapFS{
		"0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"0002_b.sql": {Data: []byte("CREATE TABLE b (x INTEGER); INSERT INTO b VALUES (1);")},
	}
	if err := migrate(ctx, w, good); err != nil {
		t.Fatal(err)
	}
	bad := fstest.MapFS{
		"0001_a.sql": good["0001_a.sql"],
		"0002_b.sql": good["0002_b.sql"],
		"0003_c.sql": {Data: []byte("CREATE TABLE c (x INTEGER); INSERT INTO nowhere VALUES (1);")},
	}
	err := migrate(ctx, w, bad)
	if err == nil || !strings.Contains(err.Error(), "migration 0003_c: apply: ") {
		t.Fatalf("migrate with a broken 0003: %v", err)
	}
	v, err := schemaVersion(ctx, w)
	if err != nil || v != 2 {
		t.Errorf("version after a failed migration = %d, %v; want 2", v, err)
	}
	var n int
	w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'c'`).Scan(&n)
	if n != 0 {
		t.Error("table c of the failed migration exists")
	}
	var names []string
	rows, _ := w.QueryContext(ctx, `SELECT name FROM schema_migrations ORDER BY version`)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		names = append(names, s)
	}
	rows.Close()
	if strings.Join(names, ",") != "a,b" {
		t.Errorf("schema_migrations names %v, want [a b]", names)
	}
}

func TestMigrationFilesMustBeNumberedWithoutGaps(t *testing.T) {
	tests := []struct {
		name string
		fs   fstest.MapFS
		want string
	}{
		{"a gap is refused", fstest.MapFS{"0001_a.sql": {}, "0003_c.sql": {}},
			"migration 0003_c: expected version 2"},
		{"a repeated number is refused", fstest.MapFS{"0001_a.sql": {}, "0001_b.sql": {}},
			"migration 0001_b: expected version 2"},
		{"a badly named file is refused", fstest.MapFS{"1_a.sql": {}},
			"migration 1_a.sql: name must be NNNN_name.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadMigrations(tt.fs)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestEmbeddedMigrationsLoad(t *testing.T) {
	ms, err := loadMigrations(embeddedMigrations)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].name != "init" {
		t.Errorf("migrations %v, want 0001_init first", ms)
	}
}

func TestConcurrentOpensOfANewFileMigrateItOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmm.db")
	ctx := context.Background()
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			db, err := Open(ctx, path)
			if err == nil {
				err = db.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	db.reader.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n)
	if n != SupportedSchemaVersion() {
		t.Errorf("%d schema_migrations rows, want %d", n, SupportedSchemaVersion())
	}
	sites, _ := db.Sites(ctx)
	if len(sites) != 1 {
		t.Errorf("sites %v, want the one default site", sites)
	}
}
