-- The analysis engine's state and planned work (issue 5). SQLite flavour; see
-- migrations/postgres for the twin. Never edit this file once released: add a new one.

-- The newest engine snapshot (one row, id = 1): its serde_json body restores the engine
-- at start-up so a restart does not relearn baselines. `fed` is the JSON map host_id ->
-- newest batch seq the snapshot includes, so that only later batches are replayed.
CREATE TABLE engine_snapshots (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    taken_ms      INTEGER NOT NULL,
    watermark_ms  INTEGER NOT NULL,
    rules_version TEXT    NOT NULL,
    fed           TEXT    NOT NULL,
    outcome_after INTEGER NOT NULL,
    body          TEXT    NOT NULL
);

-- Maintenance windows: planned work per host or per label selector. Inside one,
-- incidents do not open and reboots are planned. Deleting ends the window (kept for audit).
CREATE TABLE maintenance_windows (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    start_ms   INTEGER NOT NULL,
    end_ms     INTEGER NOT NULL,
    hosts      TEXT    NOT NULL,
    labels     TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    deleted_ms INTEGER
);
CREATE INDEX maintenance_windows_end ON maintenance_windows (end_ms);
