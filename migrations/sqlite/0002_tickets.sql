-- Tickets in service desks, the audit log of what service desks did, outcomes and
-- silences (issue 6). SQLite flavour; see migrations/postgres for the twin.
-- Never edit this file once released: sqlx checksums applied migrations. Add a new one.

-- One row per (notifier, fingerprint): the local fingerprint -> ticket cache that keeps
-- a repeat from searching the desk (Jira search is eventually consistent) and is what
-- the two-way sync polls. status: open | acknowledged | resolved | rejected | gone.
CREATE TABLE tickets (
    notifier    TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    ticket_id   TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (notifier, fingerprint)
);
-- The sync's scan: a notifier's tickets that are still active.
CREATE INDEX tickets_active ON tickets (notifier, status);
CREATE INDEX tickets_incident ON tickets (incident_id);

-- Every acknowledgement, resolution and silence that came from a service desk.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    incident_id INTEGER REFERENCES incidents (id),
    ticket_id   TEXT,
    detail      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_incident ON audit_log (incident_id, id);

-- How an incident ended according to the people who worked it, for the analysis engine.
CREATE TABLE outcomes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    source      TEXT    NOT NULL,
    code        TEXT    NOT NULL,
    note        TEXT    NOT NULL DEFAULT '',
    at_ms       INTEGER NOT NULL
);
CREATE INDEX outcomes_incident ON outcomes (incident_id);

-- Notifications about a host (and component, when set) are held back until until_ms.
CREATE TABLE silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id    TEXT    NOT NULL,
    component  TEXT,
    until_ms   INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX silences_host ON silences (host_id, until_ms);

-- Each notifier gets its own row for an incident change, and all of them carry the same
-- idempotency key (the key names the change, not the receiver). 0001 made the key alone
-- unique, so with two notifiers the second row was silently skipped; the uniqueness is
-- per notifier. SQLite cannot drop a column constraint, hence the table rebuild.
CREATE TABLE outbox_rebuilt (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id     INTEGER NOT NULL REFERENCES incidents (id),
    notifier        TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    created_ms      INTEGER NOT NULL,
    delivered_ms    INTEGER,
    failed          BOOLEAN NOT NULL DEFAULT 0,
    last_error      TEXT,
    UNIQUE (notifier, idempotency_key)
);
INSERT INTO outbox_rebuilt
    SELECT id, incident_id, notifier, action, idempotency_key, payload, attempts,
           next_attempt_ms, created_ms, delivered_ms, failed, last_error
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_rebuilt RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (next_attempt_ms) WHERE delivered_ms IS NULL AND failed = 0;
CREATE INDEX outbox_incident ON outbox (incident_id, notifier, id);
