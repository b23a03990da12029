-- Compressed storage (issue 7), PostgreSQL flavour (see migrations/sqlite for the twin).
-- Never edit this file once released: sqlx checksums applied migrations. Add a new one.

-- A compacted batch keeps its key row (with an empty body) so that a replay of it is
-- still recognised as a duplicate; the compactor deletes these tombstones once they
-- are older than storage.dedup_window. Readers of the log skip compacted rows.
ALTER TABLE batches ADD COLUMN compacted BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX batches_pending ON batches (host_id, seq) WHERE NOT compacted;
CREATE INDEX batches_tombstones ON batches (received_ms) WHERE compacted;

-- One row per series ever compacted. labels is the canonical JSON text of the sorted
-- map (TEXT, not jsonb, so that equality is byte equality on both backends).
CREATE TABLE series (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id TEXT   NOT NULL,
    metric  TEXT   NOT NULL,
    labels  TEXT   NOT NULL,
    UNIQUE (host_id, metric, labels)
);

-- The same chunk and rollup rows as on SQLite, range-partitioned on start_ts so that
-- retention drops whole partitions instead of deleting rows. Partitions are created by
-- the compactor, inside its transaction, when it first writes into their range (see
-- store/postgres_chunks.rs for their spans); there is deliberately no default
-- partition, which would block creating a partition for rows it already holds.
CREATE TABLE chunks (
    series_id BIGINT NOT NULL,
    start_ts  BIGINT NOT NULL,
    count     BIGINT NOT NULL,
    data      BYTEA  NOT NULL,
    PRIMARY KEY (series_id, start_ts)
) PARTITION BY RANGE (start_ts);

CREATE TABLE rollups_5m (
    series_id BIGINT NOT NULL,
    start_ts  BIGINT NOT NULL,
    count     BIGINT NOT NULL,
    data      BYTEA  NOT NULL,
    PRIMARY KEY (series_id, start_ts)
) PARTITION BY RANGE (start_ts);

CREATE TABLE rollups_1h (
    series_id BIGINT NOT NULL,
    start_ts  BIGINT NOT NULL,
    count     BIGINT NOT NULL,
    data      BYTEA  NOT NULL,
    PRIMARY KEY (series_id, start_ts)
) PARTITION BY RANGE (start_ts);
