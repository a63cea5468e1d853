-- 0004_alerts: the alerts table as the engine's alert lifecycle needs it
-- (engine/alerts.go, store/alerts.go).
--
--   * severity widens to Critical, High, Medium, Low, Info. 'Warning', the
--     middle level of 0001, stays accepted (a CHECK is only ever widened),
--     but existing Warning rows become Medium, and rmm writes it no more;
--     store/alerts.go reads a stray one as Medium.
--   * state keeps its stored words: 'Open' is shown as Active, 'Acked' as
--     Acknowledged, 'Resolved' as Resolved. store/alerts.go is the only
--     place that maps them; retention (store/retention.go) archives rows
--     with state = 'Resolved', unchanged.
--   * instance: '' for a device-wide alert, else what on the device it
--     concerns ('C:' for a volume, a service name), as in metrics. One
--     unresolved alert per device, type and instance.
--   * ack_note, resolve_note: what the person who acknowledged or resolved
--     the alert wrote.
--
-- SQLite changes a CHECK only by rebuilding the table: create the new one,
-- copy every row (ids kept), drop the old, rename. No table, trigger or
-- view refers to alerts, so this is safe with foreign_keys on. Every index
-- is created again under its old name: retention names
-- alerts_resolved_done in an INDEXED BY clause.

CREATE TABLE alerts_new (
    id            INTEGER PRIMARY KEY,
    -- NULL for alerts that concern no single device (a bad credential, the store).
    device_id     INTEGER REFERENCES devices (id) ON DELETE CASCADE,
    type          TEXT    NOT NULL CHECK (type <> ''),   -- e.g. cpu_high, disk_used, offline
    instance      TEXT    NOT NULL DEFAULT '',           -- e.g. 'C:' for disk_used; '' for device-wide
    severity      TEXT    NOT NULL
                  CHECK (severity IN ('Critical', 'High', 'Medium', 'Low', 'Info', 'Warning')),
    state         TEXT    NOT NULL DEFAULT 'Open' CHECK (state IN ('Open', 'Acked', 'Resolved')),
    message       TEXT    NOT NULL DEFAULT '',
    count         INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),  -- detections folded into this row
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    acked_by      TEXT,
    acked_at      INTEGER,
    ack_note      TEXT    NOT NULL DEFAULT '',
    resolved_by   TEXT,                  -- 'rmm' when auto_resolved
    resolved_at   INTEGER,
    resolve_note  TEXT    NOT NULL DEFAULT '',
    auto_resolved INTEGER NOT NULL DEFAULT 0 CHECK (auto_resolved IN (0, 1))
);

INSERT INTO alerts_new (id, device_id, type, instance, severity, state, message, count, first_seen, last_seen,
                        acked_by, acked_at, resolved_by, resolved_at, auto_resolved)
SELECT id, device_id, type, '', CASE severity WHEN 'Warning' THEN 'Medium' ELSE severity END, state, message,
       count, first_seen, last_seen, acked_by, acked_at, resolved_by, resolved_at, auto_resolved
FROM alerts;

DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;

CREATE INDEX alerts_state_severity ON alerts (state, severity);
CREATE INDEX alerts_device ON alerts (device_id);
-- At most one unresolved alert per device (none: 0), type and instance: a
-- repeat bumps count and last_seen instead of adding a row.
CREATE UNIQUE INDEX alerts_unresolved ON alerts (coalesce(device_id, 0), type, instance) WHERE state <> 'Resolved';
-- Retention takes resolved alerts oldest first by this expression (as in 0002).
CREATE INDEX alerts_resolved_done ON alerts (coalesce(resolved_at, last_seen)) WHERE state = 'Resolved';
