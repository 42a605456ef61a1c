-- +goose Up
-- Results and checkpoints partitioned by month (declarative partitioning),
-- for databases that take more than ten million rows a month: a month's rows
-- sit in their own tables, which `wtb gc` drops whole, and an index holds one
-- month rather than every row ever written.
--
-- The partition key is the batch id. wtb names a batch after the UTC time it
-- starts, "YYYYMMDD-HHMMSS-xxxxxxxx", so its first six characters are the
-- batch's start month: every row of a batch lands in the partition of the
-- month the batch started, whenever the row is written (a resume next month
-- writes into the same partition). No column is added and no write changes:
-- the partition key is already part of every key a write conflicts on —
-- results' UNIQUE (batch_test_id, execution_key) is unchanged, and
-- checkpoints' key becomes (id, batch_test_id), which is the old key (id)
-- because a checkpoint id is a hash of its batch id among other things
-- (plan.Step.ID), so no two batches share one. ON CONFLICT DO NOTHING on
-- those keys keeps every write exactly-once.
--
-- Partition bounds are six-digit months, '202612' to '202701': an id's
-- first six digits decide, under any collation. A row whose batch id does
-- not start with a month (a test's "b1") goes to the DEFAULT partition, as
-- does a month nobody created a partition for, so an insert never fails for
-- want of one. Partitions are created ahead by wtb_ensure_month_partition,
-- which a batch calls when it is stored for its own month and the next.
--
-- Nothing references results or checkpoints by foreign key (migration 5
-- dropped theirs to the batch; model calls, spans and the audit trail name
-- the batch, not a result row), so no foreign key has to carry the
-- partition key; retention deletes the rows of the other tables by batch.
--
-- The conversion copies the rows into the partitioned tables inside this
-- migration's transaction and drops the old tables: every row is kept (ids
-- and the results' id sequence included), or nothing changes.

-- The names of the old tables' indexes and constraints are needed again.
ALTER TABLE wtb_batch_test_results RENAME TO wtb_results_unpartitioned;
ALTER TABLE wtb_checkpoints RENAME TO wtb_checkpoints_unpartitioned;
ALTER TABLE wtb_results_unpartitioned DROP CONSTRAINT uq_results_batch_execution;
ALTER TABLE wtb_results_unpartitioned DROP CONSTRAINT wtb_batch_test_results_pkey;
ALTER TABLE wtb_checkpoints_unpartitioned DROP CONSTRAINT wtb_checkpoints_pkey;
DROP INDEX idx_batch_test_results_metrics;
DROP INDEX idx_batch_test_results_created;
DROP INDEX idx_results_failed;
DROP INDEX idx_checkpoints_batch;
DROP INDEX idx_checkpoints_cache;
DROP INDEX idx_checkpoints_created;

CREATE TABLE wtb_batch_test_results (
    id                  BIGINT NOT NULL DEFAULT nextval('wtb_batch_test_results_id_seq'),
    batch_test_id       TEXT NOT NULL,
    execution_key       TEXT NOT NULL,
    execution_id        TEXT NOT NULL,
    combination_name    TEXT NOT NULL,
    variant_config      JSONB NOT NULL,
    case_id             TEXT NOT NULL,
    repeat_index        INTEGER NOT NULL,
    status              TEXT NOT NULL,
    success             BOOLEAN NOT NULL DEFAULT FALSE,
    error               TEXT NOT NULL DEFAULT '',
    failed_node         TEXT NOT NULL DEFAULT '',
    failure_kind        TEXT NOT NULL DEFAULT '',
    metrics             JSONB NOT NULL DEFAULT '{}',
    scores              JSONB NOT NULL DEFAULT '{}',
    overall_score       DOUBLE PRECISION NOT NULL DEFAULT 0,
    passed              BOOLEAN NOT NULL DEFAULT FALSE,
    duration_ms         DOUBLE PRECISION NOT NULL DEFAULT 0,
    worker_id           TEXT NOT NULL DEFAULT '',
    attempts            INTEGER NOT NULL DEFAULT 1,
    final_checkpoint_id TEXT NOT NULL DEFAULT '',
    created_at          TIMESTAMPTZ NOT NULL,
    logs                JSONB NOT NULL DEFAULT '[]',
    notes               JSONB NOT NULL DEFAULT '{}',
    CONSTRAINT wtb_batch_test_results_pkey PRIMARY KEY (id, batch_test_id),
    CONSTRAINT uq_results_batch_execution UNIQUE (batch_test_id, execution_key)
) PARTITION BY RANGE (batch_test_id);
ALTER SEQUENCE wtb_batch_test_results_id_seq OWNED BY wtb_batch_test_results.id;
CREATE INDEX idx_batch_test_results_metrics ON wtb_batch_test_results USING GIN (metrics jsonb_path_ops);
CREATE INDEX idx_batch_test_results_created ON wtb_batch_test_results USING BRIN (created_at);
CREATE INDEX idx_results_failed ON wtb_batch_test_results(batch_test_id, execution_key) WHERE status = 'failed';

CREATE TABLE wtb_checkpoints (
    id            TEXT NOT NULL,
    batch_test_id TEXT NOT NULL,
    parent_id     TEXT NOT NULL DEFAULT '',
    node          TEXT NOT NULL DEFAULT '',
    position      INTEGER NOT NULL DEFAULT 0,
    variant       TEXT NOT NULL DEFAULT '',
    config_hash   TEXT NOT NULL DEFAULT '',
    cache_key     TEXT NOT NULL DEFAULT '',
    source        TEXT NOT NULL,
    segment_key   TEXT NOT NULL DEFAULT '',
    state         JSONB NOT NULL,
    output        JSONB NOT NULL DEFAULT '{}',
    metrics       JSONB NOT NULL DEFAULT '{}',
    duration_ms   DOUBLE PRECISION NOT NULL DEFAULT 0,
    worker_id     TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    logs          JSONB NOT NULL DEFAULT '[]',
    -- id first: a checkpoint is looked up by id alone (one index probe per
    -- partition).
    CONSTRAINT wtb_checkpoints_pkey PRIMARY KEY (id, batch_test_id)
) PARTITION BY RANGE (batch_test_id);
CREATE INDEX idx_checkpoints_batch ON wtb_checkpoints(batch_test_id, source);
CREATE INDEX idx_checkpoints_cache ON wtb_checkpoints(cache_key) WHERE cache_key <> '';
CREATE INDEX idx_checkpoints_created ON wtb_checkpoints USING BRIN (created_at);

CREATE TABLE wtb_batch_test_results_default PARTITION OF wtb_batch_test_results DEFAULT;
CREATE TABLE wtb_checkpoints_default PARTITION OF wtb_checkpoints DEFAULT;

-- wtb_ensure_month_partition creates the partitions of results and
-- checkpoints for one month, YYYYMM, unless they exist; safe when hosts call
-- it at once (the loser of a race finds the table there). It returns false
-- when it could not: the DEFAULT partition already holds rows of that month
-- (PostgreSQL refuses a partition whose rows sit in the default; they stay
-- there, deleted row by row), or the tables stayed locked for two seconds —
-- creating a partition locks its parent, and a batch start should not wait
-- behind a long reader for it; the next batch start tries again, and rows
-- meanwhile go to the default partition.
-- +goose StatementBegin
CREATE FUNCTION wtb_ensure_month_partition(month TEXT) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
    upper TEXT;
    parent TEXT;
    part TEXT;
BEGIN
    IF month !~ '^[0-9]{6}$' THEN
        RAISE EXCEPTION 'wtb_ensure_month_partition: % is not a month (YYYYMM)', month;
    END IF;
    upper := to_char(to_date(month, 'YYYYMM') + interval '1 month', 'YYYYMM');
    FOREACH parent IN ARRAY ARRAY['wtb_batch_test_results', 'wtb_checkpoints'] LOOP
        part := parent || '_p' || month;
        CONTINUE WHEN to_regclass(quote_ident(part)) IS NOT NULL;
        BEGIN
            PERFORM set_config('lock_timeout', '2s', true);
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', part, parent, month, upper);
            IF parent = 'wtb_batch_test_results' THEN
                EXECUTE format('ALTER TABLE %I SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02)', part);
            END IF;
        EXCEPTION
            WHEN duplicate_table OR unique_violation THEN NULL; -- created by another host meanwhile
            WHEN check_violation OR lock_not_available THEN RETURN FALSE;
        END;
    END LOOP;
    RETURN TRUE;
END
$$;
-- +goose StatementEnd

-- A partition for every month that has batches, then the rows.
SELECT wtb_ensure_month_partition(m)
    FROM (SELECT DISTINCT left(id, 6) AS m FROM wtb_batch_tests WHERE id ~ '^[0-9]{6}') months ORDER BY m;
SELECT wtb_ensure_month_partition(to_char(now() AT TIME ZONE 'UTC', 'YYYYMM'));
SELECT wtb_ensure_month_partition(to_char((now() AT TIME ZONE 'UTC') + interval '1 month', 'YYYYMM'));

INSERT INTO wtb_batch_test_results (id, batch_test_id, execution_key, execution_id, combination_name, variant_config, case_id,
        repeat_index, status, success, error, failed_node, failure_kind, metrics, scores, overall_score, passed, duration_ms,
        worker_id, attempts, final_checkpoint_id, created_at, logs, notes)
    SELECT id, batch_test_id, execution_key, execution_id, combination_name, variant_config, case_id,
        repeat_index, status, success, error, failed_node, failure_kind, metrics, scores, overall_score, passed, duration_ms,
        worker_id, attempts, final_checkpoint_id, created_at, logs, notes
    FROM wtb_results_unpartitioned;
INSERT INTO wtb_checkpoints (id, batch_test_id, parent_id, node, position, variant, config_hash, cache_key, source,
        segment_key, state, output, metrics, duration_ms, worker_id, created_at, logs)
    SELECT id, batch_test_id, parent_id, node, position, variant, config_hash, cache_key, source,
        segment_key, state, output, metrics, duration_ms, worker_id, created_at, logs
    FROM wtb_checkpoints_unpartitioned;
DROP TABLE wtb_results_unpartitioned;
DROP TABLE wtb_checkpoints_unpartitioned;
ANALYZE wtb_batch_test_results;
ANALYZE wtb_checkpoints;

-- +goose Down
-- Back to one table each, every row kept.
CREATE TABLE wtb_results_flat (LIKE wtb_batch_test_results INCLUDING DEFAULTS);
INSERT INTO wtb_results_flat SELECT * FROM wtb_batch_test_results;
CREATE TABLE wtb_checkpoints_flat (LIKE wtb_checkpoints INCLUDING DEFAULTS);
INSERT INTO wtb_checkpoints_flat SELECT * FROM wtb_checkpoints;
ALTER SEQUENCE wtb_batch_test_results_id_seq OWNED BY wtb_results_flat.id;
DROP TABLE wtb_batch_test_results;
DROP TABLE wtb_checkpoints;
DROP FUNCTION wtb_ensure_month_partition(TEXT);
ALTER TABLE wtb_results_flat RENAME TO wtb_batch_test_results;
ALTER TABLE wtb_checkpoints_flat RENAME TO wtb_checkpoints;
ALTER TABLE wtb_batch_test_results ADD CONSTRAINT wtb_batch_test_results_pkey PRIMARY KEY (id);
ALTER TABLE wtb_batch_test_results ADD CONSTRAINT uq_results_batch_execution UNIQUE (batch_test_id, execution_key);
ALTER TABLE wtb_checkpoints ADD CONSTRAINT wtb_checkpoints_pkey PRIMARY KEY (id);
CREATE INDEX idx_batch_test_results_metrics ON wtb_batch_test_results USING GIN (metrics jsonb_path_ops);
CREATE INDEX idx_batch_test_results_created ON wtb_batch_test_results USING BRIN (created_at);
CREATE INDEX idx_results_failed ON wtb_batch_test_results(batch_test_id, execution_key) WHERE status = 'failed';
CREATE INDEX idx_checkpoints_batch ON wtb_checkpoints(batch_test_id, source);
CREATE INDEX idx_checkpoints_cache ON wtb_checkpoints(cache_key) WHERE cache_key <> '';
CREATE INDEX idx_checkpoints_created ON wtb_checkpoints USING BRIN (created_at);
ALTER TABLE wtb_batch_test_results SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
