package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// embeddedMigrations is the migrations directory compiled into the binary.
var embeddedMigrations = mustSub(migrationFiles, "migrations")

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // dir is a constant that go:embed already checked
	}
	return sub
}

// ErrSchemaTooNew is wrapped by Open when the database was migrated by a
// newer rmm than this one.
var ErrSchemaTooNew = errors.New("database schema is newer than this rmm supports")

// SchemaVersionError reports a database schema newer than the binary's.
type SchemaVersionError struct {
	Have      int // the database's schema version
	Supported int // the newest version this binary knows
}

// Error says what is wrong and what to do about it.
func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this rmm supports (%d); upgrade rmm", e.Have, e.Supported)
}

// Is makes errors.Is(err, ErrSchemaTooNew) true.
func (e *SchemaVersionError) Is(target error) bool { return target == ErrSchemaTooNew }

// migration is one numbered file: migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// loadMigrations reads and checks the migration files: names must match
// NNNN_name.sql and versions must run 1, 2, 3... without gaps, so that the
// version number is also the count of applied migrations.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: m[2], sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %04d_%s: expected version %d (versions must run 1, 2, 3... without gaps or repeats)", m.version, m.name, i+1)
		}
	}
	return ms, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL -- unix ms, UTC
)`

// migrate applies the pending migrations of fsys to db, each in its own
// transaction together with its schema_migrations row and PRAGMA
// user_version, so a failed migration leaves the previous version intact.
// db must be the writer pool (BEGIN IMMEDIATE): two rmm processes opening
// the same file at once then apply each migration exactly once.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS) error {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	// Fast path, without taking the write lock: nothing to do.
	cur, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	if cur > len(ms) {
		return &SchemaVersionError{Have: cur, Supported: len(ms)}
	}
	for cur < len(ms) {
		if cur, err = applyNext(ctx, db, ms); err != nil {
			return err
		}
	}
	return nil
}

// applyNext applies the migration after the current version, rechecking the
// version under the write lock, and returns the version it left.
func applyNext(ctx context.Context, db *sql.DB, ms []migration) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback()
	cur, err := schemaVersion(ctx, tx)
	if err != nil {
		return 0, err
	}
	if cur > len(ms) {
		return 0, &SchemaVersionError{Have: cur, Supported: len(ms)}
	}
	if cur == len(ms) {
		return cur, nil // another process got there first
	}
	m := ms[cur]
	step := func(what string, err error) error {
		return fmt.Errorf("migration %04d_%s: %s: %w", m.version, m.name, what, err)
	}
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return 0, step("create schema_migrations", err)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return 0, step("apply", err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, toMS(time.Now())); err != nil {
		return 0, step("record", err)
	}
	// PRAGMA takes no bound parameters; m.version is an int we parsed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
		return 0, step("set user_version", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, step("commit", err)
	}
	return m.version, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion is the larger of PRAGMA user_version and the highest
// schema_migrations row: either alone may have been reset by hand, and a
// database touched by a newer rmm must be refused whichever it shows.
func schemaVersion(ctx context.Context, q queryer) (int, error) {
	var uv int
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&uv); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	var n int
	if err := q.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if n == 0 {
		return uv, nil
	}
	var mv int
	if err := q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&mv); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return max(uv, mv), nil
}

// SchemaVersion returns the database's schema version (the number of the
// last migration applied).
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, db.reader)
}

// SupportedSchemaVersion returns the newest schema version this binary
// can migrate to.
func SupportedSchemaVersion() int {
	ms, err := loadMigrations(embeddedMigrations)
	if err != nil {
		return 0
	}
	return len(ms)
}
