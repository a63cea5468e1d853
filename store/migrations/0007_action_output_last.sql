-- 0007_action_output_last: actions is rebuilt with stdout (output) and
-- stderr as its last columns.
--
-- SQLite stores a row as one record; a big stdout (up to
-- actions.output_max_bytes, 64 KiB by default) spills onto overflow
-- pages, and reading any column stored after it walks those pages. The
-- console reads runs without outputs (GetRun Brief) every second or so
-- while a run is open; with the outputs last, that read no longer touches
-- them: 10,000 results with 64 KiB of stdout each were read about ten
-- times slower than with none. Same columns, CHECKs, defaults and
-- indexes; ids are kept. No table, trigger or view refers to actions
-- (offline_queue.action_id is a plain column), so the rebuild is safe
-- with foreign_keys on.

CREATE TABLE actions_new (
    id             INTEGER PRIMARY KEY,
    run_id         TEXT    NOT NULL CHECK (run_id <> ''),
    device_id      INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    action         TEXT    NOT NULL CHECK (action <> ''),
    params         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(params)),  -- never secrets
    status         TEXT    NOT NULL DEFAULT 'Pending'
                   CHECK (status IN ('Pending', 'Running', 'Completed', 'Failed', 'Cancelled', 'Queued', 'Expired')),
    message        TEXT    NOT NULL DEFAULT '',
    exit_code      INTEGER,
    duration_ms    INTEGER NOT NULL DEFAULT 0,
    attempts       INTEGER NOT NULL DEFAULT 0,
    script_version INTEGER NOT NULL DEFAULT 0,
    requested_by   TEXT    NOT NULL DEFAULT '',
    requested_at   INTEGER NOT NULL,
    started_at     INTEGER,
    finished_at    INTEGER,
    output         TEXT    NOT NULL DEFAULT '',  -- stdout
    stderr         TEXT    NOT NULL DEFAULT ''
);

INSERT INTO actions_new (id, run_id, device_id, action, params, status, message, exit_code, duration_ms, attempts,
                         script_version, requested_by, requested_at, started_at, finished_at, output, stderr)
SELECT id, run_id, device_id, action, params, status, message, exit_code, duration_ms, attempts,
       script_version, requested_by, requested_at, started_at, finished_at, output, stderr
FROM actions;

DROP TABLE actions;
ALTER TABLE actions_new RENAME TO actions;

CREATE INDEX actions_device_started ON actions (device_id, started_at);
CREATE INDEX actions_run ON actions (run_id);
