-- Harbinger collector schema, PostgreSQL flavour (see migrations/sqlite for the twin).
-- Never edit this file once released: sqlx checksums applied migrations. Add a new one.
-- JSON columns are jsonb here (validated on write) and TEXT in SQLite; the store reads
-- them back as text in both cases.

-- The batch log: one row per accepted batch, keyed by (host_id, seq), which is both the
-- durable record and the idempotency key. The body is the zstd-compressed protocol JSON.
-- There is deliberately no table with one row per sample (DESIGN.md section 5).
-- min_ts/max_ts bound the event time of the samples and events inside the body; a batch
-- carrying neither uses its receive time so it still sorts into a time range.
CREATE TABLE batches (
    host_id      TEXT   NOT NULL,
    seq          BIGINT NOT NULL,
    received_ms  BIGINT NOT NULL,
    min_ts       BIGINT NOT NULL,
    max_ts       BIGINT NOT NULL,
    sample_count BIGINT NOT NULL,
    body         BYTEA  NOT NULL,
    PRIMARY KEY (host_id, seq)
);
-- Time-range lookups per host: batches whose max_ts reaches into the range.
CREATE INDEX batches_host_max_ts ON batches (host_id, max_ts);

-- Hosts as last described by their highest-numbered batch.
CREATE TABLE hosts (
    host_id       TEXT   NOT NULL PRIMARY KEY,
    hostname      TEXT   NOT NULL,
    labels        JSONB  NOT NULL DEFAULT '{}',
    agent_version TEXT   NOT NULL,
    interval_ms   BIGINT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    last_seq      BIGINT NOT NULL
);

-- Discrete events, queried per host and event-time range.
CREATE TABLE events (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id   TEXT   NOT NULL,
    ts        BIGINT NOT NULL,
    kind      TEXT   NOT NULL,
    severity  TEXT   NOT NULL,
    component TEXT,
    message   TEXT   NOT NULL,
    attrs     JSONB  NOT NULL DEFAULT '{}'
);
CREATE INDEX events_host_ts ON events (host_id, ts);

-- The latest known attributes of each component. seq is the batch they came from, so a
-- replayed older batch cannot overwrite newer inventory.
CREATE TABLE inventory (
    host_id    TEXT   NOT NULL,
    component  TEXT   NOT NULL,
    attrs      JSONB  NOT NULL,
    updated_ms BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    PRIMARY KEY (host_id, component)
);

-- Every state an inventory item has had, appended when it first appears or changes.
CREATE TABLE inventory_history (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id   TEXT   NOT NULL,
    component TEXT   NOT NULL,
    attrs     JSONB  NOT NULL,
    at_ms     BIGINT NOT NULL,
    seq       BIGINT NOT NULL
);
CREATE INDEX inventory_history_item ON inventory_history (host_id, component, at_ms);

CREATE TABLE incidents (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedup_key      TEXT   NOT NULL,
    host_id        TEXT   NOT NULL,
    kind           TEXT   NOT NULL,
    component      TEXT,
    severity       TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    title          TEXT   NOT NULL,
    details        JSONB  NOT NULL DEFAULT '{}',
    opened_at_ms   BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL,
    resolved_at_ms BIGINT,
    revision       BIGINT NOT NULL
);
-- At most one open incident per problem; resolved ones may share the key.
CREATE UNIQUE INDEX incidents_open_dedup_key ON incidents (dedup_key) WHERE status = 'open';
CREATE INDEX incidents_host_opened ON incidents (host_id, opened_at_ms);
CREATE INDEX incidents_opened ON incidents (opened_at_ms);

-- Notifications waiting for (or done with) delivery, written in the same transaction as
-- the incident change that causes them.
CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id     BIGINT  NOT NULL REFERENCES incidents (id),
    notifier        TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    payload         JSONB   NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT  NOT NULL,
    created_ms      BIGINT  NOT NULL,
    delivered_ms    BIGINT,
    failed          BOOLEAN NOT NULL DEFAULT FALSE,
    last_error      TEXT
);
-- Only pending rows are indexed, so the due scan stays small however long the history.
CREATE INDEX outbox_due ON outbox (next_attempt_ms) WHERE delivered_ms IS NULL AND NOT failed;
-- Per-incident, per-notifier ordering (outbox_blocked, outbox_for_incident).
CREATE INDEX outbox_incident ON outbox (incident_id, notifier, id);
