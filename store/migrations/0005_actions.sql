-- 0005_actions: remote actions, runs, the script library and the offline
-- queue as the engine's action runner needs them (engine/actions_*.go,
-- store/actions.go, store/scripts.go, store/queue.go).
--
--   * runs: one row per request (rmm action run, the console's action
--     dialog). Its per-device rows are in actions, by run_id.
--   * actions is rebuilt (SQLite changes a CHECK only that way): status
--     becomes Pending, Running, Completed, Failed, Cancelled, Queued,
--     Expired; old rows map Queued -> Pending, Succeeded -> Completed,
--     TimedOut -> Failed. New columns: message (the one line a human
--     reads), stdout and stderr (each truncated at actions.output_max_bytes
--     with a marker), duration_ms, attempts, script_version (the library
--     version a RunScript used, 0 for built-in actions). No table, trigger
--     or view refers to actions, so the rebuild is safe with foreign_keys
--     on; both indexes are created again under their old names.
--   * scripts: the library. A new version is a new row; old versions are
--     kept. params is a JSON array of {name, type, default, required,
--     choices, help}.
--   * offline_queue gains run_id and action_id (the actions row a replay
--     updates). Entries replay in id order (the enqueue order) per device.

CREATE TABLE runs (
    id           TEXT    PRIMARY KEY CHECK (id <> ''),
    action       TEXT    NOT NULL CHECK (action <> ''),
    params       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(params)),  -- never secrets
    target       TEXT    NOT NULL DEFAULT '',   -- as requested: "site London", "12 host(s)"
    requested_by TEXT    NOT NULL DEFAULT '',
    total        INTEGER NOT NULL DEFAULT 0,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER                        -- NULL while the fan-out runs
);
CREATE INDEX runs_started ON runs (started_at);

CREATE TABLE actions_new (
    id             INTEGER PRIMARY KEY,
    run_id         TEXT    NOT NULL CHECK (run_id <> ''),
    device_id      INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    action         TEXT    NOT NULL CHECK (action <> ''),
    params         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(params)),  -- never secrets
    status         TEXT    NOT NULL DEFAULT 'Pending'
                   CHECK (status IN ('Pending', 'Running', 'Completed', 'Failed', 'Cancelled', 'Queued', 'Expired')),
    message        TEXT    NOT NULL DEFAULT '',
    output         TEXT    NOT NULL DEFAULT '',  -- stdout
    stderr         TEXT    NOT NULL DEFAULT '',
    exit_code      INTEGER,
    duration_ms    INTEGER NOT NULL DEFAULT 0,
    attempts       INTEGER NOT NULL DEFAULT 0,
    script_version INTEGER NOT NULL DEFAULT 0,
    requested_by   TEXT    NOT NULL DEFAULT '',
    requested_at   INTEGER NOT NULL,
    started_at     INTEGER,
    finished_at    INTEGER
);

INSERT INTO actions_new (id, run_id, device_id, action, params, status, output, exit_code,
                         requested_by, requested_at, started_at, finished_at)
SELECT id, run_id, device_id, action, params,
       CASE status WHEN 'Queued' THEN 'Pending' WHEN 'Succeeded' THEN 'Completed' WHEN 'TimedOut' THEN 'Failed' ELSE status END,
       output, exit_code, requested_by, requested_at, started_at, finished_at
FROM actions;

DROP TABLE actions;
ALTER TABLE actions_new RENAME TO actions;

CREATE INDEX actions_device_started ON actions (device_id, started_at);
CREATE INDEX actions_run ON actions (run_id);

CREATE TABLE scripts (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL COLLATE NOCASE CHECK (name <> ''),
    version     INTEGER NOT NULL CHECK (version >= 1),
    description TEXT    NOT NULL DEFAULT '',
    params      TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(params) AND json_type(params) = 'array'),
    body        TEXT    NOT NULL CHECK (body <> ''),
    timeout_ms  INTEGER NOT NULL DEFAULT 0 CHECK (timeout_ms >= 0),  -- 0: the engine's default
    created_by  TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    UNIQUE (name, version)
);

ALTER TABLE offline_queue ADD COLUMN run_id TEXT NOT NULL DEFAULT '';
ALTER TABLE offline_queue ADD COLUMN action_id INTEGER;  -- the actions row; NULL for entries older than 0005
CREATE INDEX offline_queue_state_id ON offline_queue (state, id);
