-- 0018_relay: site relays (engine/relay).
--
-- relay_sites: the sites central runs a relay hub account for. The relay
-- authenticates its leaf connection with a random password that only its
-- credentials file holds; central keeps the bcrypt hash.
CREATE TABLE relay_sites (
    site        TEXT    NOT NULL COLLATE NOCASE PRIMARY KEY CHECK (site <> ''),
    leaf_user   TEXT    NOT NULL UNIQUE CHECK (leaf_user <> ''),
    pass_hash   TEXT    NOT NULL CHECK (pass_hash <> ''),
    enrolled_at INTEGER NOT NULL,
    revoked_at  INTEGER          -- NULL while the relay may connect
);

-- relay_applied: message ids already applied, so a message delivered
-- twice (a redelivery after a lost ack, a relay that published again
-- after a crash) changes nothing the second time. scope is the site of
-- a result central ingested, or 'cmd' for a command a relay executed.
CREATE TABLE relay_applied (
    scope      TEXT    NOT NULL COLLATE NOCASE,
    msg_id     TEXT    NOT NULL,
    applied_at INTEGER NOT NULL,
    PRIMARY KEY (scope, msg_id)
) WITHOUT ROWID;
CREATE INDEX relay_applied_at ON relay_applied (applied_at);
