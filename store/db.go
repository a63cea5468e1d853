package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNotFound is wrapped by lookups that find no row.
var ErrNotFound = errors.New("not found")

// busyTimeoutMS is how long a connection waits for a lock held by another
// connection or process before it reports SQLITE_BUSY.
const busyTimeoutMS = 5000

// DB is an open rmm database. It holds two pools on the same file: one
// connection for writes (SQLite allows one writer at a time, so queueing in
// the pool beats SQLITE_BUSY) and several read-only connections, which
// under WAL never block the writer nor wait for it.
type DB struct {
	path   string
	writer *sql.DB
	reader *sql.DB
	now    func() time.Time
	audit  *auditState
}

// Open opens (creating when missing) the database at path and applies the
// pending migrations. The parent directory is created with mode 0700 and a
// new file with mode 0600. A database whose schema is newer than this
// binary knows is refused with an error wrapping ErrSchemaTooNew.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenWith(ctx, path, AuditOptions{})
}

// OpenWith is Open with the audit chain's key store and anchor (see
// AuditOptions). It also checks the audit tables' append-only triggers
// and puts back any that were dropped or altered, audits that it did so
// and reports it as an AuditEventTriggersRestored.
func OpenWith(ctx context.Context, path string, audit AuditOptions) (*DB, error) {
	db, err := open(ctx, path, audit)
	if err != nil {
		return nil, fmt.Errorf("open DB %s: %w", path, err)
	}
	return db, nil
}

func open(ctx context.Context, path string, audit AuditOptions) (*DB, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		// The driver would read these as URI syntax; rmm only uses plain files.
		return nil, errors.New("path must be a plain file name (no '?', '#', 'file:' or ':memory:')")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create directory: %w", err)
	}
	if err := createFile(path); err != nil {
		return nil, err
	}

	w, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, err
	}
	// One writer connection, kept open: SQLite serialises writers anyway.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	db := &DB{path: path, writer: w, now: time.Now, audit: &auditState{opts: audit}}
	if err := db.checkJournal(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := migrate(ctx, w, embeddedMigrations); err != nil {
		w.Close()
		return nil, err
	}

	// Readers are opened after migrating so they never see a half-built schema.
	r, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		w.Close()
		return nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.reader = r
	// Every reader connection is opened now and kept (no idle or
	// lifetime limit): the database's descriptors are taken while the
	// process has them, so a console that later runs short of sockets
	// (thousands of WinRM connections) never fails to open its database.
	conns := make([]*sql.Conn, 0, n)
	release := func() {
		for _, c := range conns {
			_ = c.Close() // back to the pool, still open
		}
	}
	for range n {
		c, err := r.Conn(ctx)
		if err == nil {
			err = c.PingContext(ctx)
		}
		if err != nil {
			release()
			db.Close()
			return nil, fmt.Errorf("open reader: %w", err)
		}
		conns = append(conns, c)
	}
	// Handed back before anything below reads (the audit triggers' check
	// appends a row, which reads the chain): held, they would be waited on.
	release()
	restored, err := db.restoreAuditTriggers(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	if len(restored) > 0 {
		// The triggers are back whatever happens to the row: a chain keyed
		// with a key this process cannot read still gets its triggers.
		_, aerr := db.AppendAudit(ctx, AuditEntry{User: "rmm", Role: "Admin", Via: "system",
			Action: "audit.triggers_restored", Result: AuditSuccess, Details: map[string]any{"triggers": restored}})
		db.audit.emit(AuditEvent{Kind: AuditEventTriggersRestored, Err: aerr, Message: fmt.Sprintf(
			"the audit tables' triggers were missing or altered and were put back: %s "+
				"(someone wrote to the database with another tool)", strings.Join(restored, ", "))})
	}
	return db, nil
}

// createFile makes sure the database file exists with mode 0600 before
// SQLite opens it (SQLite would create it with 0644 minus umask). The WAL
// and shared-memory files SQLite creates later copy this mode.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	return f.Close()
}

// dsn builds the driver's data source name. Pragmas are given as _pragma
// parameters so the driver runs them on every new pooled connection, not
// only on the first one.
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Statement journals, sorts and temporary tables in memory, not in
	// files opened on demand: out of descriptors (a console holding
	// thousands of sockets), SQLite would fail a commit with "unable to
	// open database file". VACUUM switches to files for its copy.
	q.Add("_pragma", "temp_store(MEMORY)")
	if writer {
		// Take the write lock at BEGIN: a deferred transaction that reads
		// first and then writes can fail with SQLITE_BUSY without waiting.
		q.Set("_txlock", "immediate")
	} else {
		// A bug that writes through the reader pool fails loudly.
		q.Add("_pragma", "query_only(ON)")
	}
	return path + "?" + q.Encode()
}

// checkJournal makes sure WAL is really in effect: SQLite silently keeps
// the old journal mode where WAL is impossible (some network filesystems),
// and then readers would block the writer.
//
// The first statement also opens the writer connection. While another
// connection closes the file (its last connection checkpoints and removes
// the WAL) or is recovering it, SQLite answers SQLITE_BUSY at once,
// without the busy timeout: two rmm processes starting together (the
// console and a CLI command) or a long migration make that window real,
// so a busy answer is retried for up to openBusyWait.
func (db *DB) checkJournal(ctx context.Context) error {
	var mode string
	var err error
	deadline := time.Now().Add(openBusyWait)
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 200*time.Millisecond) {
		err = db.writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("read journal mode: %w", ctx.Err())
		case <-time.After(pause):
		}
	}
	if err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL (is the file on a network filesystem?)", mode)
	}
	return nil
}

// openBusyWait bounds how long Open retries a database another
// connection holds busy while it opens or closes it.
const openBusyWait = 10 * time.Second

// isBusy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// Close writes the audit anchor when rows were appended since the last
// one (see AnchorAudit), then closes both pools. Stop every Writer on
// this DB first.
func (db *DB) Close() error {
	db.anchorOnClose()
	var errs []error
	if db.reader != nil {
		if err := db.reader.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close DB %s: readers: %w", db.path, err))
		}
	}
	if err := db.writer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close DB %s: writer: %w", db.path, err))
	}
	return errors.Join(errs...)
}

// Path returns the file name the database was opened with.
func (db *DB) Path() string { return db.path }

// toMS converts t to the stored form: unix milliseconds, UTC.
func toMS(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts a stored timestamp back; NULL (invalid) gives the zero time.
func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}
