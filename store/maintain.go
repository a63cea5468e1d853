package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrCorrupt is wrapped by Maintain when the integrity check finds
// problems or SQLite reports the file corrupt: the engine treats it as
// Fatal (restore a backup).
var ErrCorrupt = errors.New("database is corrupt")

// maxIntegrityProblems bounds what integrity_check lists.
const maxIntegrityProblems = 100

// analysisLimit bounds the rows ANALYZE samples per index, so that it
// takes milliseconds on a large metrics table instead of holding the write
// lock for a full scan; the planner needs only rough statistics.
const analysisLimit = 1000

// MaintainReport says what Maintain did.
type MaintainReport struct {
	Integrity   string // "ok", or the problems integrity_check found, one per line
	BytesBefore int64  // database file plus WAL before
	BytesAfter  int64  // and after
	Vacuumed    bool
	Analyzed    bool
	Took        time.Duration
}

// Maintain checks and tidies the database: PRAGMA integrity_check (on a
// reader, so writers go on), then ANALYZE with a sampling limit, then,
// when vacuum is true, VACUUM to return the space of deleted rows to the
// file system, then a WAL checkpoint that truncates the WAL. The writes
// run on the writer connection, queued with the Writer's batches; VACUUM
// needs free disk space about the size of the database and blocks other
// writers while it runs. A database that fails the integrity check is left
// alone: the error wraps ErrCorrupt and the report lists the problems.
func (db *DB) Maintain(ctx context.Context, vacuum bool) (MaintainReport, error) {
	start := time.Now()
	rep, err := db.maintain(ctx, vacuum)
	rep.Took = time.Since(start)
	if err != nil {
		return rep, fmt.Errorf("maintain DB %s: %w", db.path, err)
	}
	return rep, nil
}

func (db *DB) maintain(ctx context.Context, vacuum bool) (MaintainReport, error) {
	var rep MaintainReport
	var err error
	if rep.BytesBefore, err = db.fileBytes(); err != nil {
		return rep, err
	}
	if rep.Integrity, err = db.integrityCheck(ctx); err != nil {
		if cerr := classifyCorrupt(err); errors.Is(cerr, ErrCorrupt) {
			rep.Integrity = err.Error() // too damaged for the check to list problems
			err = cerr
		}
		return rep, fmt.Errorf("integrity check: %w", err)
	}
	if rep.Integrity != "ok" {
		first, _, _ := strings.Cut(rep.Integrity, "\n")
		return rep, fmt.Errorf("integrity check: %w: %s", ErrCorrupt, first)
	}
	if _, err := db.writer.ExecContext(ctx, fmt.Sprintf("PRAGMA analysis_limit = %d", analysisLimit)); err != nil {
		return rep, fmt.Errorf("analyze: %w", classifyCorrupt(err))
	}
	if _, err := db.writer.ExecContext(ctx, "ANALYZE"); err != nil {
		return rep, fmt.Errorf("analyze: %w", classifyCorrupt(err))
	}
	rep.Analyzed = true
	if vacuum {
		// VACUUM copies the database into a temporary one: on disk, not
		// in memory (the connections' temp_store is MEMORY, see dsn).
		if _, err := db.writer.ExecContext(ctx, "PRAGMA temp_store = FILE"); err != nil {
			return rep, fmt.Errorf("vacuum: %w", classifyCorrupt(err))
		}
		_, err := db.writer.ExecContext(ctx, "VACUUM")
		if _, rerr := db.writer.ExecContext(ctx, "PRAGMA temp_store = MEMORY"); rerr != nil && err == nil {
			err = rerr
		}
		if err != nil {
			return rep, fmt.Errorf("vacuum: %w", classifyCorrupt(err))
		}
		rep.Vacuumed = true
	}
	// busy is 1 when a reader still used old WAL frames; the WAL is then
	// not truncated this time, which is no error.
	var busy, logFrames, done int
	if err := db.writer.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
		return rep, fmt.Errorf("checkpoint: %w", classifyCorrupt(err))
	}
	if rep.BytesAfter, err = db.fileBytes(); err != nil {
		return rep, err
	}
	return rep, nil
}

// integrityCheck runs PRAGMA integrity_check and returns "ok" or the
// problems, one per line.
func (db *DB) integrityCheck(ctx context.Context) (string, error) {
	rows, err := db.reader.QueryContext(ctx, fmt.Sprintf("PRAGMA integrity_check(%d)", maxIntegrityProblems))
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return "", err
		}
		problems = append(problems, s)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	if len(problems) == 0 {
		return "", errors.New("no result")
	}
	return strings.Join(problems, "\n"), nil
}

// classifyCorrupt makes SQLite's "corrupt" and "not a database" errors
// wrap ErrCorrupt too.
func classifyCorrupt(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		if c := se.Code() & 0xff; c == sqlite3.SQLITE_CORRUPT || c == sqlite3.SQLITE_NOTADB {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	return err
}

// fileBytes is the size of the database file plus its WAL.
func (db *DB) fileBytes() (int64, error) {
	var total int64
	for _, p := range []string{db.path, db.path + "-wal"} {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return 0, err
		default:
			total += fi.Size()
		}
	}
	return total, nil
}
