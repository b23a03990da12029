-- Compressed storage (issue 7), SQLite flavour (see migrations/postgres for the twin).
-- Never edit this file once released: sqlx checksums applied migrations. Add a new one.

-- A compacted batch keeps its key row (with an empty body) so that a replay of it is
-- still recognised as a duplicate; the compactor deletes these tombstones once they
-- are older than storage.dedup_window. Readers of the log skip compacted rows.
ALTER TABLE batches ADD COLUMN compacted INTEGER NOT NULL DEFAULT 0;
-- The compactor's scan: batches not yet compacted, per host in sequence order.
CREATE INDEX batches_pending ON batches (host_id, seq) WHERE compacted = 0;
-- The tombstone trim.
CREATE INDEX batches_tombstones ON batches (received_ms) WHERE compacted = 1;

-- One row per series ever compacted; chunks refer to it by id, so a label set is
-- stored once, not once per chunk. labels is the canonical JSON of the sorted map.
CREATE TABLE series (
    id      INTEGER PRIMARY KEY,
    host_id TEXT    NOT NULL,
    metric  TEXT    NOT NULL,
    labels  TEXT    NOT NULL,
    UNIQUE (host_id, metric, labels)
);

-- Raw samples: one row per series per aligned window (storage::CHUNK_SPAN), the
-- points packed by store/chunks.rs. start_ts is the window start, so a range read is a
-- primary-key range scan. Deliberately a rowid table: in a WITHOUT ROWID table a row
-- over ~1 KB spills into an overflow page of its own, which doubled the chunk table's
-- size on simulated data (noisy series' chunks are several KB).
CREATE TABLE chunks (
    series_id INTEGER NOT NULL,
    start_ts  INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    PRIMARY KEY (series_id, start_ts)
);
-- Retention deletes by age across all series.
CREATE INDEX chunks_start ON chunks (start_ts);

-- Rollups: min/max/sum/count/last per 5 minutes and per hour, one row per series per
-- row span (1 day and 7 days), encoded by rollup.rs.
CREATE TABLE rollups_5m (
    series_id INTEGER NOT NULL,
    start_ts  INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    PRIMARY KEY (series_id, start_ts)
);
CREATE INDEX rollups_5m_start ON rollups_5m (start_ts);

CREATE TABLE rollups_1h (
    series_id INTEGER NOT NULL,
    start_ts  INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    PRIMARY KEY (series_id, start_ts)
);
CREATE INDEX rollups_1h_start ON rollups_1h (start_ts);
