-- 0017_collections: saved dynamic device groups, and the grouping keys of
-- ad-hoc command results.
--
--   * collections: a name and a filter expression in the console's
--     grammar (engine/filter), inventory terms included ("software:zoom
--     software.version<5.17"). Membership is never stored: the engine
--     evaluates the expression over its device list and the inventory
--     index, and keeps it current as devices and their facts change.
--   * command_outputs: one row per device result of an ad-hoc command
--     run (rmm run, the console's !), with the hash of its normalised
--     output (plain) and of the same output with the device's name
--     masked (masked). Results group by these keys without reading the
--     outputs themselves (actions.output and stderr may be 64 KiB each,
--     and a 10,000-device run is grouped again each time it is read).
--     A row goes with its actions row.

CREATE TABLE collections (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL COLLATE NOCASE UNIQUE CHECK (name <> ''),
    expr        TEXT    NOT NULL CHECK (expr <> ''),
    description TEXT    NOT NULL DEFAULT '',
    created_by  TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE command_outputs (
    action_id INTEGER PRIMARY KEY REFERENCES actions (id) ON DELETE CASCADE,
    plain     TEXT    NOT NULL,
    masked    TEXT    NOT NULL
);
