package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database to dest, a new file
// (mode 0600) in a directory that exists: a missing one is refused
// (wrapping fs.ErrNotExist) rather than created, since a mistyped path
// would otherwise leave a directory tree behind. It runs
// VACUUM INTO a temporary file in dest's directory on a connection of its
// own, which reads one snapshot and so neither blocks writers nor sees
// half of a batch, then fsyncs the copy and moves it to dest. The
// copy is compacted, in rollback-journal mode until Open switches it to
// WAL.
//
// An existing dest is refused, never overwritten (the error wraps
// fs.ErrExist): a backup must not silently replace an older one, and dest
// might be the live database.
func (db *DB) Backup(ctx context.Context, dest string) error {
	if err := db.backup(ctx, dest); err != nil {
		return fmt.Errorf("backup DB %s to %s: %w", db.path, dest, err)
	}
	return nil
}

func (db *DB) backup(ctx context.Context, dest string) error {
	if dest == "" {
		return errors.New("empty destination")
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("%w: choose a new name or remove the file first", fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(dest)
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("directory %s: %w: create it first, or choose an existing one", dir, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	// VACUUM INTO accepts an existing empty file, so CreateTemp gives it a
	// unique name and mode 0600.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	name := tmp.Name()
	tmp.Close()
	keep := false
	defer func() {
		if !keep {
			os.Remove(name)
		}
	}()
	if err := db.vacuumInto(ctx, name); err != nil {
		return fmt.Errorf("vacuum into %s: %w", name, err)
	}
	if err := syncFile(name); err != nil {
		return err
	}
	if err := moveNoReplace(name, dest); err != nil {
		return err
	}
	keep = true
	return syncDir(dir)
}

// vacuumInto runs VACUUM INTO name on a connection of its own: the reader
// pool's connections are query_only, which refuses VACUUM INTO, and the
// writer connection would queue the Writer's batches behind the copy. The
// statement only reads the database, in one read transaction, which under
// WAL does not block the writer.
func (db *DB) vacuumInto(ctx context.Context, name string) error {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	c, err := sql.Open("sqlite", db.path+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	_, err = c.ExecContext(ctx, "VACUUM INTO ?", name)
	return err
}

func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", name, err)
	}
	return nil
}

// moveNoReplace renames from to to, failing when to exists. A hard link
// makes that atomic; where the file system has none, a check before the
// rename has to do.
func moveNoReplace(from, to string) error {
	err := os.Link(from, to)
	if err == nil {
		return os.Remove(from)
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: it appeared while the backup ran", fs.ErrExist)
	}
	if _, serr := os.Lstat(to); serr == nil {
		return fmt.Errorf("%w: it appeared while the backup ran", fs.ErrExist)
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("move into place: %w", err)
	}
	return nil
}
