// Package store owns rmm's SQLite database (modernc.org/sqlite, no cgo):
// opening it with the right pragmas, the numbered schema migrations, the
// queries the engine needs and the batch Writer that is the one path for
// high-volume writes (metrics, poll status). It also owns the hash-chained
// audit log (audit.go), retention into gzip archive files under a directory
// the caller names (retention.go, archive.go), and maintenance and backup
// (maintain.go, backup.go).
//
// Time is stored as INTEGER unix milliseconds in UTC everywhere (see
// migrations/0001_init.sql); this package converts to and from time.Time.
//
// What it must not do: talk to devices, decide policy (alert thresholds,
// RBAC, retention ages come from the engine), hold secrets (a device only
// names its credential), or keep mutable package-level state. It does not
// log; it returns errors wrapped with the operation and the DB path or
// device, and leaves classing them to the engine.
package store
