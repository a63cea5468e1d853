-- 0011_process_records: what a crashed rmm process leaves behind can be
-- found and cleaned up by the next one (store/processes.go,
-- engine/recovery.go).
--
--   * processes: one row per rmm process that owns work in this database
--     (runs it fans out, queue entries it replays, WinRM shells it opened),
--     written when it first takes such work and removed when it closes. A
--     row whose process is gone (no such pid on this host, or a pid reused
--     by another program: start_token differs) marks its work as orphaned.
--   * winrm_shells: the shells a process opened and has not deleted yet,
--     by endpoint and shell id. A shell of a process that is gone is
--     deleted on its host by the next rmm that starts. device_id finds the
--     device's credential and transport again; it is not a foreign key, so
--     removing a device does not forget its shells.
--   * runs.owner and offline_queue.claimed_by name the process running a
--     run's fan-out and a queue entry's replay. NULL in rows written before
--     this migration: an unfinished run or a Replaying entry from then has
--     no process left to finish it, and is recovered at the next start.

CREATE TABLE processes (
    id          INTEGER PRIMARY KEY,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    start_token TEXT    NOT NULL DEFAULT '',  -- the OS's start time of pid, where it tells; '' elsewhere
    command     TEXT    NOT NULL DEFAULT '',  -- e.g. "rmm poll", for people
    started_at  INTEGER NOT NULL
);

CREATE TABLE winrm_shells (
    id         INTEGER PRIMARY KEY,
    process_id INTEGER NOT NULL,
    device_id  INTEGER NOT NULL,
    endpoint   TEXT    NOT NULL CHECK (endpoint <> ''),
    shell_id   TEXT    NOT NULL CHECK (shell_id <> ''),
    opened_at  INTEGER NOT NULL,
    UNIQUE (endpoint, shell_id)
);
CREATE INDEX winrm_shells_process ON winrm_shells (process_id);

ALTER TABLE runs ADD COLUMN owner INTEGER;
ALTER TABLE offline_queue ADD COLUMN claimed_by INTEGER;
