-- 0016_patches: patch management (engine/patch*.go, store/patches.go).
--
--   * patch_catalog: every Windows update a scan has seen, by its WUA
--     UpdateID (the same on every host): KB, title, classification (the
--     English name), MSRC severity, size, reboot behaviour, release date.
--   * device_patches: what the last scan of a device found, missing or
--     installed, one row per update (replaced whole by the next scan).
--   * patch_scans: each device's last scan: when, whether it worked (the
--     WUA's HRESULT when not), its update service (WSUS, Windows Update,
--     Microsoft Update) and server, the agent's last successful search and
--     install, a restart pending, the counts.
--   * patch_approvals: approvals and denials per update and ring ('*':
--     every ring), manual or by a rule (source 'rule:NAME'); override: an
--     Admin approved past the ring's gate.
--   * patch_jobs: one install job per device and request, a state machine
--     the engine advances (queued while the device is offline, starting,
--     installing, reboot_wait, rebooting, settling, rescanning, then
--     completed, failed, cancelled or expired). lease_until keeps two rmm
--     processes on one database from stepping the same job at once;
--     cancel_by asks the next step to cancel it (stop the task).
--   * patch_results: each update's outcome in a job round: the WUA's
--     ResultCode and HResult, restart required.

CREATE TABLE patch_catalog (
    update_id       TEXT    PRIMARY KEY CHECK (update_id <> ''),
    kb              TEXT    NOT NULL DEFAULT '',
    title           TEXT    NOT NULL DEFAULT '',
    classification  TEXT    NOT NULL DEFAULT '',
    severity        TEXT    NOT NULL DEFAULT '',
    size_bytes      INTEGER NOT NULL DEFAULT 0,
    reboot_behavior INTEGER NOT NULL DEFAULT 0,
    released_at     INTEGER,                 -- NULL when the agent gave no date
    first_seen      INTEGER NOT NULL
);
CREATE INDEX patch_catalog_kb ON patch_catalog (kb);

CREATE TABLE device_patches (
    device_id INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    update_id TEXT    NOT NULL REFERENCES patch_catalog (update_id),
    state     TEXT    NOT NULL CHECK (state IN ('missing', 'installed')),
    PRIMARY KEY (device_id, update_id)
) WITHOUT ROWID;
CREATE INDEX device_patches_update ON device_patches (update_id, state);

CREATE TABLE patch_scans (
    device_id            INTEGER PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    scanned_at           INTEGER NOT NULL,
    ok                   INTEGER NOT NULL CHECK (ok IN (0, 1)),
    error                TEXT    NOT NULL DEFAULT '',
    hresult              INTEGER NOT NULL DEFAULT 0,
    service              TEXT    NOT NULL DEFAULT '',
    server               TEXT    NOT NULL DEFAULT '',
    last_search_success  INTEGER,
    last_install_success INTEGER,
    reboot_required      INTEGER NOT NULL DEFAULT 0 CHECK (reboot_required IN (0, 1)),
    missing              INTEGER NOT NULL DEFAULT 0,
    installed            INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE patch_approvals (
    update_id  TEXT    NOT NULL REFERENCES patch_catalog (update_id),
    ring       TEXT    NOT NULL CHECK (ring <> ''),
    decision   TEXT    NOT NULL CHECK (decision IN ('approved', 'denied')),
    source     TEXT    NOT NULL DEFAULT 'manual',
    override   INTEGER NOT NULL DEFAULT 0 CHECK (override IN (0, 1)),
    decided_by TEXT    NOT NULL DEFAULT '',
    decided_at INTEGER NOT NULL,
    note       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (update_id, ring)
) WITHOUT ROWID;

CREATE TABLE patch_jobs (
    id                INTEGER PRIMARY KEY,
    run_id            TEXT    NOT NULL CHECK (run_id <> ''),
    device_id         INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    state             TEXT    NOT NULL CHECK (state IN ('queued', 'starting', 'installing', 'reboot_wait', 'rebooting',
                          'settling', 'rescanning', 'completed', 'failed', 'cancelled', 'expired')),
    kbs               TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(kbs)),        -- the selection; []: every approved update
    reboot            TEXT    NOT NULL DEFAULT 'window' CHECK (reboot IN ('window', 'now', 'never')),
    max_rounds        INTEGER NOT NULL DEFAULT 3 CHECK (max_rounds >= 1),
    round             INTEGER NOT NULL DEFAULT 1,
    update_ids        TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(update_ids)), -- this round's
    task              TEXT    NOT NULL DEFAULT '',
    progress          TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(progress)),
    message           TEXT    NOT NULL DEFAULT '',
    hresult           INTEGER NOT NULL DEFAULT 0,
    installed         INTEGER NOT NULL DEFAULT 0,
    failed            INTEGER NOT NULL DEFAULT 0,
    reboot_required   INTEGER NOT NULL DEFAULT 0 CHECK (reboot_required IN (0, 1)),
    requested_by      TEXT    NOT NULL DEFAULT '',
    requested_at      INTEGER NOT NULL,
    task_started_at   INTEGER,
    boot_before       INTEGER,
    reboot_at         INTEGER,
    state_since       INTEGER NOT NULL,
    unreachable_since INTEGER,
    next_at           INTEGER NOT NULL,
    lease_until       INTEGER,
    cancel_by         TEXT    NOT NULL DEFAULT '',   -- who asked to cancel; the engine's next step does it
    expires_at        INTEGER NOT NULL,
    finished_at       INTEGER
);
CREATE INDEX patch_jobs_due ON patch_jobs (next_at) WHERE finished_at IS NULL;
CREATE INDEX patch_jobs_run ON patch_jobs (run_id);
CREATE INDEX patch_jobs_device ON patch_jobs (device_id, id);

CREATE TABLE patch_results (
    id              INTEGER PRIMARY KEY,
    job_id          INTEGER NOT NULL REFERENCES patch_jobs (id) ON DELETE CASCADE,
    device_id       INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    round           INTEGER NOT NULL,
    update_id       TEXT    NOT NULL,
    kb              TEXT    NOT NULL DEFAULT '',
    title           TEXT    NOT NULL DEFAULT '',
    result_code     INTEGER NOT NULL,
    hresult         INTEGER NOT NULL DEFAULT 0,
    reboot_required INTEGER NOT NULL DEFAULT 0 CHECK (reboot_required IN (0, 1)),
    message         TEXT    NOT NULL DEFAULT '',
    finished_at     INTEGER NOT NULL
);
CREATE INDEX patch_results_device ON patch_results (device_id, finished_at);
CREATE INDEX patch_results_update ON patch_results (update_id);
