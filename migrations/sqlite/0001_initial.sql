-- Harbinger collector schema, SQLite flavour (see migrations/postgres for the twin).
-- Never edit this file once released: sqlx checksums applied migrations. Add a new one.

-- The batch log: one row per accepted batch, keyed by (host_id, seq), which is both the
-- durable record and the idempotency key. The body is the zstd-compressed protocol JSON.
-- There is deliberately no table with one row per sample (DESIGN.md section 5).
-- min_ts/max_ts bound the event time of the samples and events inside the body; a batch
-- carrying neither uses its receive time so it still sorts into a time range.
CREATE TABLE batches (
    host_id      TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    received_ms  INTEGER NOT NULL,
    min_ts       INTEGER NOT NULL,
    max_ts       INTEGER NOT NULL,
    sample_count INTEGER NOT NULL,
    body         BLOB    NOT NULL,
    PRIMARY KEY (host_id, seq)
);
-- Time-range lookups per host: batches whose max_ts reaches into the range.
CREATE INDEX batches_host_max_ts ON batches (host_id, max_ts);

-- Hosts as last described by their highest-numbered batch.
CREATE TABLE hosts (
    host_id       TEXT    NOT NULL PRIMARY KEY,
    hostname      TEXT    NOT NULL,
    labels        TEXT    NOT NULL DEFAULT '{}',
    agent_version TEXT    NOT NULL,
    interval_ms   INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    last_seq      INTEGER NOT NULL
);

-- Discrete events, queried per host and event-time range.
CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    host_id   TEXT    NOT NULL,
    ts        INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    severity  TEXT    NOT NULL,
    component TEXT,
    message   TEXT    NOT NULL,
    attrs     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX events_host_ts ON events (host_id, ts);

-- The latest known attributes of each component. seq is the batch they came from, so a
-- replayed older batch cannot overwrite newer inventory.
CREATE TABLE inventory (
    host_id    TEXT    NOT NULL,
    component  TEXT    NOT NULL,
    attrs      TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (host_id, component)
);

-- Every state an inventory item has had, appended when it first appears or changes.
CREATE TABLE inventory_history (
    id        INTEGER PRIMARY KEY,
    host_id   TEXT    NOT NULL,
    component TEXT    NOT NULL,
    attrs     TEXT    NOT NULL,
    at_ms     INTEGER NOT NULL,
    seq       INTEGER NOT NULL
);
CREATE INDEX inventory_history_item ON inventory_history (host_id, component, at_ms);

-- AUTOINCREMENT so that ids are never reused after deletions: the outbox orders by id
-- and idempotency keys may embed incident ids.
CREATE TABLE incidents (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key      TEXT    NOT NULL,
    host_id        TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    component      TEXT,
    severity       TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    title          TEXT    NOT NULL,
    details        TEXT    NOT NULL DEFAULT '{}',
    opened_at_ms   INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    resolved_at_ms INTEGER,
    revision       INTEGER NOT NULL
);
-- At most one open incident per problem; resolved ones may share the key.
CREATE UNIQUE INDEX incidents_open_dedup_key ON incidents (dedup_key) WHERE status = 'open';
CREATE INDEX incidents_host_opened ON incidents (host_id, opened_at_ms);
CREATE INDEX incidents_opened ON incidents (opened_at_ms);

-- Notifications waiting for (or done with) delivery, written in the same transaction as
-- the incident change that causes them.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id     INTEGER NOT NULL REFERENCES incidents (id),
    notifier        TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    payload         TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    created_ms      INTEGER NOT NULL,
    delivered_ms    INTEGER,
    failed          BOOLEAN NOT NULL DEFAULT 0,
    last_error      TEXT
);
-- Only pending rows are indexed, so the due scan stays small however long the history.
CREATE INDEX outbox_due ON outbox (next_attempt_ms) WHERE delivered_ms IS NULL AND failed = 0;
-- Per-incident, per-notifier ordering (outbox_blocked, outbox_for_incident).
CREATE INDEX outbox_incident ON outbox (incident_id, notifier, id);
