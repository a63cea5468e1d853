-- 0011_rollups: hourly and daily aggregates of the metrics reports need
-- (availability from poll_ok, CPU, memory, disk free), kept far longer
-- than the raw samples (retention.rollups, default 13 months), so a
-- monthly uptime report works while retention.metrics stays short.
--
-- Rollups are computed incrementally (store/rollups.go): each pass adds
-- the samples written since the last one, as recorded in rollup_state
-- (the highest metrics id rolled, and the newest sample time rolled, by
-- which a metrics id reused after the newest rows were deleted is still
-- seen as new). Retention rolls up before it archives raw samples, so no
-- sample leaves the database unrolled.
--
-- period is 'hour' or 'day' (UTC); start is the bucket's start (unix ms).
-- n, sum_value, min_value and max_value let any coarser view be computed
-- exactly: a mean is sum_value/n, availability is sum_value/n of poll_ok.

CREATE TABLE metric_rollups (
    device_id INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    type      TEXT    NOT NULL CHECK (type <> ''),
    instance  TEXT    NOT NULL DEFAULT '',
    period    TEXT    NOT NULL CHECK (period IN ('hour', 'day')),
    start     INTEGER NOT NULL,
    n         INTEGER NOT NULL CHECK (n >= 1),  -- samples
    sum_value REAL    NOT NULL,
    min_value REAL    NOT NULL,
    max_value REAL    NOT NULL,
    PRIMARY KEY (device_id, type, instance, period, start)
) WITHOUT ROWID;
CREATE INDEX metric_rollups_start ON metric_rollups (period, start);

CREATE TABLE rollup_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    last_id INTEGER NOT NULL,
    last_ts INTEGER NOT NULL
);
INSERT INTO rollup_state (id, last_id, last_ts) VALUES (1, 0, 0);
