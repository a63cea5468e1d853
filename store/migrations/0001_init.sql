-- 0001_init: the first schema of the rmm store.
--
-- Conventions (every later migration keeps them):
--   * Timestamps are INTEGER unix milliseconds, UTC. A column named *_at,
--     ts, first_seen, last_seen or last_* holds one; NULL means "never" or
--     "not yet". Never store local time or text dates.
--   * JSON columns hold text that json_valid() accepts: tags and targets are
--     arrays, custom_fields, params and details are objects.
--   * Names an admin types (hostnames, site and group names) compare
--     case-insensitively (COLLATE NOCASE), as Windows does.
--   * Enumerated text columns have a CHECK; widen it in a new migration
--     (table rebuild), never by writing values the CHECK would refuse.
--   * Rows that belong to a device go with it (ON DELETE CASCADE), except
--     the audit log, which never loses rows because a device was removed.
--   * Each migration runs in one transaction; schema_migrations and
--     PRAGMA user_version are written by the Go code, not here.

CREATE TABLE sites (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL COLLATE NOCASE UNIQUE CHECK (name <> ''),
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

-- Devices without a site belong to "main"; it always exists.
INSERT INTO sites (name, description, created_at)
VALUES ('main', 'default site', CAST(unixepoch('subsec') * 1000 AS INTEGER));

CREATE TABLE devices (
    id            INTEGER PRIMARY KEY,
    hostname      TEXT    NOT NULL COLLATE NOCASE UNIQUE CHECK (hostname <> ''),
    fqdn          TEXT    NOT NULL DEFAULT '',
    ip            TEXT    NOT NULL DEFAULT '',
    mac           TEXT    NOT NULL DEFAULT '',
    site_id       INTEGER NOT NULL REFERENCES sites (id) ON DELETE RESTRICT,
    os_name       TEXT    NOT NULL DEFAULT '',
    os_version    TEXT    NOT NULL DEFAULT '',
    tags          TEXT    NOT NULL DEFAULT '[]'
                  CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    description   TEXT    NOT NULL DEFAULT '',
    port          INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    transport     TEXT    NOT NULL DEFAULT 'https' CHECK (transport IN ('http', 'https')),
    -- Name of the credential in the keyring/vault; '' means the default one.
    -- Never a secret.
    credential_id TEXT    NOT NULL DEFAULT '',
    custom_fields TEXT    NOT NULL DEFAULT '{}'
                  CHECK (json_valid(custom_fields) AND json_type(custom_fields) = 'object'),

    -- Written by the poller through the batch writer.
    status        TEXT    NOT NULL DEFAULT 'Unknown'
                  CHECK (status IN ('Online', 'Offline', 'Unknown')),
    last_seen     INTEGER,               -- last successful contact
    last_error    TEXT    NOT NULL DEFAULT '',
    cpu_pct       REAL,
    mem_pct       REAL,
    disk_free_pct REAL,                  -- lowest free % over the fixed volumes
    metrics_at    INTEGER,               -- NULL until a poll returned metrics

    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL       -- last change of the device record, not of its status
);
CREATE INDEX devices_status ON devices (status);
CREATE INDEX devices_site ON devices (site_id);

CREATE TABLE device_groups (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL COLLATE NOCASE UNIQUE CHECK (name <> ''),
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

CREATE TABLE device_group_members (
    group_id  INTEGER NOT NULL REFERENCES device_groups (id) ON DELETE CASCADE,
    device_id INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, device_id)
) WITHOUT ROWID;
CREATE INDEX device_group_members_device ON device_group_members (device_id);

-- The latest inventory of each category (os, hardware, software, disks...)
-- per device; a new collection replaces the row.
CREATE TABLE inventory (
    id           INTEGER PRIMARY KEY,
    device_id    INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    category     TEXT    NOT NULL CHECK (category <> ''),
    data         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
    collected_at INTEGER NOT NULL,
    UNIQUE (device_id, category)
);

CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY,
    -- NULL for alerts that concern no single device (a bad credential, the store).
    device_id     INTEGER REFERENCES devices (id) ON DELETE CASCADE,
    type          TEXT    NOT NULL CHECK (type <> ''),   -- e.g. cpu_high, disk_low, offline
    severity      TEXT    NOT NULL CHECK (severity IN ('Info', 'Warning', 'Critical')),
    state         TEXT    NOT NULL DEFAULT 'Open' CHECK (state IN ('Open', 'Acked', 'Resolved')),
    message       TEXT    NOT NULL DEFAULT '',
    count         INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),  -- repeats folded into this row
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    acked_by      TEXT,
    acked_at      INTEGER,
    resolved_by   TEXT,
    resolved_at   INTEGER,
    auto_resolved INTEGER NOT NULL DEFAULT 0 CHECK (auto_resolved IN (0, 1))
);
CREATE INDEX alerts_state_severity ON alerts (state, severity);
CREATE INDEX alerts_device ON alerts (device_id);
-- At most one unresolved alert per device and type: a repeat bumps count
-- and last_seen instead of adding a row.
CREATE UNIQUE INDEX alerts_unresolved ON alerts (device_id, type) WHERE state <> 'Resolved';

-- One row per device per action run; run_id groups the rows of one request.
CREATE TABLE actions (
    id           INTEGER PRIMARY KEY,
    run_id       TEXT    NOT NULL CHECK (run_id <> ''),
    device_id    INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    action       TEXT    NOT NULL CHECK (action <> ''),
    params       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(params)),  -- never secrets
    status       TEXT    NOT NULL DEFAULT 'Queued'
                 CHECK (status IN ('Queued', 'Running', 'Succeeded', 'Failed', 'Cancelled', 'TimedOut')),
    output       TEXT    NOT NULL DEFAULT '',
    exit_code    INTEGER,
    requested_by TEXT    NOT NULL DEFAULT '',
    requested_at INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER
);
CREATE INDEX actions_device_started ON actions (device_id, started_at);
CREATE INDEX actions_run ON actions (run_id);

-- Time series. instance is '' for device-wide metrics, e.g. 'C:' for a volume.
CREATE TABLE metrics (
    id        INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    type      TEXT    NOT NULL CHECK (type <> ''),
    instance  TEXT    NOT NULL DEFAULT '',
    value     REAL    NOT NULL,
    ts        INTEGER NOT NULL
);
CREATE INDEX metrics_device_type_ts ON metrics (device_id, type, ts);
CREATE INDEX metrics_ts ON metrics (ts);  -- retention and archive scan by age

-- Append-only, hash-chained: hash = H(prev_hash || canonical row). Rows are
-- never updated (the trigger below refuses it); retention archives whole
-- prefixes of the chain.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    ts          INTEGER NOT NULL,
    user        TEXT    NOT NULL,
    role        TEXT    NOT NULL DEFAULT '',
    via         TEXT    NOT NULL DEFAULT '' CHECK (via IN ('', 'local', 'ssh', 'cli', 'system')),
    action      TEXT    NOT NULL,
    targets     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(targets)),
    result      TEXT    NOT NULL,  -- e.g. ok, denied, failed: reason
    remote_addr TEXT    NOT NULL DEFAULT '',
    details     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details)),  -- never secrets
    prev_hash   TEXT    NOT NULL DEFAULT '',
    hash        TEXT    NOT NULL UNIQUE
);
CREATE INDEX audit_log_ts ON audit_log (ts);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Actions waiting for an unreachable device; replayed when it is back.
CREATE TABLE offline_queue (
    id           INTEGER PRIMARY KEY,
    device_id    INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    action       TEXT    NOT NULL CHECK (action <> ''),
    params       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
    requested_by TEXT    NOT NULL DEFAULT '',
    enqueued_at  INTEGER NOT NULL,
    expires_at   INTEGER,  -- NULL: never expires
    state        TEXT    NOT NULL DEFAULT 'Pending'
                 CHECK (state IN ('Pending', 'Replaying', 'Done', 'Failed', 'Expired', 'Cancelled')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX offline_queue_device_state ON offline_queue (device_id, state);
