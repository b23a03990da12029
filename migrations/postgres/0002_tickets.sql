-- Tickets in service desks, the audit log of what service desks did, outcomes and
-- silences (issue 6). PostgreSQL flavour; see migrations/sqlite for the twin.
-- Never edit this file once released: sqlx checksums applied migrations. Add a new one.

-- One row per (notifier, fingerprint): the local fingerprint -> ticket cache that keeps
-- a repeat from searching the desk (Jira search is eventually consistent) and is what
-- the two-way sync polls. status: open | acknowledged | resolved | rejected | gone.
CREATE TABLE tickets (
    notifier    TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    incident_id BIGINT  NOT NULL REFERENCES incidents (id),
    ticket_id   TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    updated_ms  BIGINT  NOT NULL,
    PRIMARY KEY (notifier, fingerprint)
);
-- The sync's scan: a notifier's tickets that are still active.
CREATE INDEX tickets_active ON tickets (notifier, status);
CREATE INDEX tickets_incident ON tickets (incident_id);

-- Every acknowledgement, resolution and silence that came from a service desk.
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms       BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    incident_id BIGINT  REFERENCES incidents (id),
    ticket_id   TEXT,
    detail      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_incident ON audit_log (incident_id, id);

-- How an incident ended according to the people who worked it, for the analysis engine.
CREATE TABLE outcomes (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id BIGINT  NOT NULL REFERENCES incidents (id),
    source      TEXT    NOT NULL,
    code        TEXT    NOT NULL,
    note        TEXT    NOT NULL DEFAULT '',
    at_ms       BIGINT  NOT NULL
);
CREATE INDEX outcomes_incident ON outcomes (incident_id);

-- Notifications about a host (and component, when set) are held back until until_ms.
CREATE TABLE silences (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id    TEXT    NOT NULL,
    component  TEXT,
    until_ms   BIGINT  NOT NULL,
    reason     TEXT    NOT NULL,
    created_ms BIGINT  NOT NULL
);
CREATE INDEX silences_host ON silences (host_id, until_ms);

-- Each notifier gets its own row for an incident change, and all of them carry the same
-- idempotency key (the key names the change, not the receiver). 0001 made the key alone
-- unique, so with two notifiers the second row was silently skipped; the uniqueness is
-- per notifier.
ALTER TABLE outbox DROP CONSTRAINT outbox_idempotency_key_key;
ALTER TABLE outbox ADD CONSTRAINT outbox_notifier_idempotency_key UNIQUE (notifier, idempotency_key);
