-- 0013_process_records: what a crashed rmm process leaves behind can be
-- found and cleaned up by the next one (store/processes.go,
-- engine/recovery.go).
--
--   * processes: one row per rmm process that owns work in this database
--     (runs it fans out, queue entries it replays, WinRM shells it opened),
--     written when it first takes such work and removed when it closes. A
--     row whose process is gone (no such pid on this host, or a pid reused
--     by another program: start_token differs) marks its work as orphaned.
--   * winrm_shells: the shells a process opened and has not deleted yet,
--     by endpoint and shell id. A row is written before the process asks
--     the host for a shell (shell_id '', opened_at the time it asked) and
--     gets the id once the host answered, before the shell is used: a
--     crash at any point leaves a row. A shell of a process that is gone
--     is deleted on its host by the next rmm that starts; for a row with
--     no id, the host's shells made since opened_at are listed and those of
--     rmm's account nobody else recorded are deleted. device_id finds the
--     device's credential and transport again; it is not a foreign key, so
--     removing a device does not forget its shells.
--   * runs.owner and offline_queue.claimed_by name the process running a
--     run's fan-out and a queue entry's replay. NULL in rows written before
--     this migration: an unfinished run or a Replaying entry from then has
--     no process left to finish it, and is recovered at the next start.

-- AUTOINCREMENT: an id is never given again. The shell records of a
-- process that is gone outlive its row (deleted in the background), and a
-- new process given the same id would hold them as its own.
CREATE TABLE processes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
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
    shell_id   TEXT    NOT NULL DEFAULT '',  -- '' while the host is being asked
    opened_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX winrm_shells_shell ON winrm_shells (endpoint, shell_id) WHERE shell_id <> '';
CREATE INDEX winrm_shells_process ON winrm_shells (process_id);

ALTER TABLE runs ADD COLUMN owner INTEGER;
ALTER TABLE offline_queue ADD COLUMN claimed_by INTEGER;
