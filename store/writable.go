package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrReadOnly is wrapped by CheckWritable when the database cannot be
// written.
var ErrReadOnly = errors.New("database is read-only")

// CheckWritable makes sure the database can be written now, without
// changing it: in a transaction it runs an UPDATE that matches no row,
// which SQLite refuses at once on a database it opened read-only, and
// rolls back. A read-only file, or a leftover read-only -wal or -shm
// beside it, is found here, before a command does any work, instead of
// at its first commit (reliability F11: a read-only DB was found only
// after a whole sweep of WinRM traffic). BEGIN IMMEDIATE alone does not
// find it. Readers need not call it: a read-only database still reads.
func (db *DB) CheckWritable(ctx context.Context) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err == nil {
		_, err = tx.ExecContext(ctx, `UPDATE schema_migrations SET version = version WHERE 0`)
		if rerr := tx.Rollback(); err == nil {
			err = rerr
		}
	}
	if err == nil {
		return nil
	}
	if strings.Contains(err.Error(), "readonly") {
		return fmt.Errorf("%w: %s cannot be written by this user (%v); check the permissions of the file, "+
			"its directory and any -wal and -shm files beside it", ErrReadOnly, db.path, err)
	}
	return fmt.Errorf("database %s cannot be written: %w", db.path, err)
}
