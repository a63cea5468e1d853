-- 0002_archive: bookkeeping for retention (store/retention.go) and for the
-- audit hash chain once its oldest rows live in archive files.

-- Where the audit chain continues outside audit_log. Each row names the
-- last row (id and hash) of a prefix of the chain that left audit_log:
--   'archived': moved to the archive; the first row left in audit_log
--               chains to it (its prev_hash is last_hash).
--   'pruned':   moved to the archive and then removed with its archive
--               file; the first row left in the archive chains to it.
-- Written in the same transaction as the delete that moves the rows.
CREATE TABLE audit_anchor (
    kind       TEXT    PRIMARY KEY CHECK (kind IN ('archived', 'pruned')),
    last_id    INTEGER NOT NULL,
    last_hash  TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The archive files retention writes, one per table per UTC day. bytes is
-- the committed length: retention appends a gzip member, fsyncs it, and
-- records the new length in the transaction that deletes the archived rows.
-- Bytes past it were written by a run that did not commit (its rows are
-- still in the database) and are cut off before the next append.
CREATE TABLE archive_files (
    path       TEXT    PRIMARY KEY,  -- relative to the archive dir, e.g. metrics/2026-11-19.jsonl.gz
    tbl        TEXT    NOT NULL CHECK (tbl IN ('metrics', 'alerts', 'audit')),
    bytes      INTEGER NOT NULL CHECK (bytes >= 0),
    rows       INTEGER NOT NULL DEFAULT 0,
    min_id     INTEGER,              -- NULL until a row was archived in the file
    max_id     INTEGER,
    last_hash  TEXT    NOT NULL DEFAULT '',  -- audit: hash of row max_id
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Retention takes resolved alerts oldest first by this expression (see
-- selectArchiveAlerts); without the index every batch sorts them all.
CREATE INDEX alerts_resolved_done ON alerts (coalesce(resolved_at, last_seen)) WHERE state = 'Resolved';
