-- The analysis engine's state and planned work (issue 5). PostgreSQL flavour; see
-- migrations/sqlite for the twin. Never edit this file once released: add a new one.

-- The newest engine snapshot (one row, id = 1): its serde_json body restores the engine
-- at start-up so a restart does not relearn baselines. `fed` is the JSON map host_id ->
-- newest batch seq the snapshot includes, so that only later batches are replayed.
CREATE TABLE engine_snapshots (
    id            BIGINT PRIMARY KEY CHECK (id = 1),
    taken_ms      BIGINT  NOT NULL,
    watermark_ms  BIGINT  NOT NULL,
    rules_version TEXT    NOT NULL,
    fed           TEXT    NOT NULL,
    outcome_after BIGINT  NOT NULL,
    body          TEXT    NOT NULL
);

-- Maintenance windows: planned work per host or per label selector. Inside one,
-- incidents do not open and reboots are planned. Deleting ends the window (kept for audit).
CREATE TABLE maintenance_windows (
    id         BIGSERIAL PRIMARY KEY,
    start_ms   BIGINT  NOT NULL,
    end_ms     BIGINT  NOT NULL,
    hosts      TEXT    NOT NULL,
    labels     TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    created_ms BIGINT  NOT NULL,
    deleted_ms BIGINT
);
CREATE INDEX maintenance_windows_end ON maintenance_windows (end_ms);
