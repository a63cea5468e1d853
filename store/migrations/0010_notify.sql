-- 0010_notify: what notifications need (engine/notifier.go,
-- store/notify.go).
--
--   * alert_events: every alert lifecycle change, written by the triggers
--     below in the same transaction as the change itself, whoever makes
--     it (a poll's batch, an ack from the CLI, another rmm process). The
--     notifier routes each event into the outbox and deletes it in one
--     transaction, so a change is routed exactly once and a crash loses
--     none. alert_id has no foreign key: an event outlives nothing, but
--     the alert may be removed (its device deleted) before it is routed;
--     the notifier drops such events.
--   * notify_outbox: every message to send, one row per channel: held
--     (a digest window, quiet hours), pending (due at not_before),
--     sending (claimed by a notifier until lease_until), sent, failed
--     (given up), suppressed (a maintenance window), merged (went out
--     inside a digest, merged_into). payload is the message as JSON,
--     never a secret.
--   * notify_sent: which routes told about which unresolved alert, and
--     when they last did: acknowledgements and resolutions go only where
--     the raise went, and repeats count from last_at.

CREATE TABLE alert_events (
    id       INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL,
    kind     TEXT    NOT NULL CHECK (kind IN ('raised', 'reopened', 'escalated', 'acknowledged', 'resolved')),
    at       INTEGER NOT NULL
);

CREATE TRIGGER alert_events_raised AFTER INSERT ON alerts
BEGIN
    INSERT INTO alert_events (alert_id, kind, at) VALUES (NEW.id, 'raised', NEW.last_seen);
END;

CREATE TRIGGER alert_events_state AFTER UPDATE OF state ON alerts
WHEN OLD.state <> NEW.state
BEGIN
    INSERT INTO alert_events (alert_id, kind, at)
    VALUES (NEW.id,
            CASE NEW.state WHEN 'Acked' THEN 'acknowledged' WHEN 'Resolved' THEN 'resolved' ELSE 'reopened' END,
            CASE NEW.state WHEN 'Acked' THEN coalesce(NEW.acked_at, NEW.last_seen)
                           WHEN 'Resolved' THEN coalesce(NEW.resolved_at, NEW.last_seen)
                           ELSE NEW.last_seen END);
END;

-- A more urgent severity on an alert that stays unresolved: Medium to
-- Critical. (A reopen that also changes the severity is a reopen.)
CREATE TRIGGER alert_events_escalated AFTER UPDATE OF severity ON alerts
WHEN OLD.state = NEW.state AND NEW.state <> 'Resolved'
 AND (CASE NEW.severity WHEN 'Critical' THEN 0 WHEN 'High' THEN 1 WHEN 'Medium' THEN 2 WHEN 'Warning' THEN 2
                        WHEN 'Low' THEN 3 ELSE 4 END)
   < (CASE OLD.severity WHEN 'Critical' THEN 0 WHEN 'High' THEN 1 WHEN 'Medium' THEN 2 WHEN 'Warning' THEN 2
                        WHEN 'Low' THEN 3 ELSE 4 END)
BEGIN
    INSERT INTO alert_events (alert_id, kind, at) VALUES (NEW.id, 'escalated', NEW.last_seen);
END;

CREATE TABLE notify_outbox (
    id          INTEGER PRIMARY KEY,
    route       TEXT    NOT NULL DEFAULT '',   -- '' for rmm notify test
    channel     TEXT    NOT NULL CHECK (channel <> ''),
    kind        TEXT    NOT NULL CHECK (kind IN ('raised', 'reopened', 'escalated', 'acknowledged', 'resolved',
                                                 'repeat', 'digest', 'test', 'report')),
    alert_id    INTEGER,                       -- NULL for digests, tests, reports
    state       TEXT    NOT NULL CHECK (state IN ('held', 'pending', 'sending', 'sent', 'failed', 'suppressed', 'merged')),
    merge       INTEGER NOT NULL DEFAULT 0 CHECK (merge IN (0, 1)),  -- held: may go out inside a digest
    payload     TEXT    NOT NULL CHECK (json_valid(payload)),
    created_at  INTEGER NOT NULL,
    not_before  INTEGER NOT NULL,              -- held: release time; pending: next attempt
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    sent_at     INTEGER,
    lease_until INTEGER,
    merged_into INTEGER
);
CREATE INDEX notify_outbox_due ON notify_outbox (state, not_before);
CREATE INDEX notify_outbox_created ON notify_outbox (created_at);

CREATE TABLE notify_sent (
    route    TEXT    NOT NULL,
    alert_id INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    last_at  INTEGER NOT NULL,
    PRIMARY KEY (route, alert_id)
) WITHOUT ROWID;
CREATE INDEX notify_sent_alert ON notify_sent (alert_id);
