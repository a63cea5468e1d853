-- 0012_audit_keyed: the audit chain becomes keyed, and its rows and
-- anchors can no longer be deleted or moved back with plain SQL
-- (store/audit.go, store/auditkey.go).
--
--   * audit_chain: one row, written once, when a process that holds the
--     audit key (kept in the OS keyring or the vault, never here) first
--     opens the database. Rows with id >= keyed_from carry an HMAC-SHA256
--     under that key; older rows keep their plain SHA-256 (written before
--     the switch). base_hash is the hash of row keyed_from - 1 (or the
--     genesis value), so the unkeyed prefix is pinned by a keyed record
--     too. mac authenticates the record itself: it cannot be moved or
--     re-pointed without the key.
--   * audit_anchor gains mac: the HMAC of (kind, last_id, last_hash) once
--     the chain is keyed; '' before. A forged anchor (rows deleted and an
--     "archived" anchor inserted over them) has no valid mac.
--   * DELETE of audit rows is refused like UPDATE, except for rows that
--     retention archived first (ids up to the 'archived' anchor, which
--     retention moves before it deletes).
--   * audit_anchor rows never move back and are never deleted.
--
-- rmm checks these triggers every time it opens the database and puts a
-- missing or altered one back (and audits that it did).

CREATE TABLE audit_chain (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    keyed_from INTEGER NOT NULL CHECK (keyed_from >= 1),
    key_id     TEXT    NOT NULL CHECK (key_id <> ''),
    base_hash  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    mac        TEXT    NOT NULL
);

CREATE TRIGGER audit_chain_write_once BEFORE UPDATE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'audit_chain is written once');
END;

CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'audit_chain is written once');
END;

ALTER TABLE audit_anchor ADD COLUMN mac TEXT NOT NULL DEFAULT '';

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.id > coalesce((SELECT last_id FROM audit_anchor WHERE kind = 'archived'), 0)
BEGIN
    SELECT RAISE(ABORT, 'audit_log rows leave only through retention, after they were archived');
END;

CREATE TRIGGER audit_anchor_forward_only BEFORE UPDATE ON audit_anchor
WHEN NEW.last_id < OLD.last_id OR NEW.kind <> OLD.kind
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor only moves forward');
END;

CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
BEGIN
    SELECT RAISE(ABORT, 'audit_anchor rows are never deleted');
END;
