-- +goose Up
-- Same logical schema as migrations/sqlite, with what PostgreSQL does well:
-- JSONB for variant config, metrics, scores and state; GIN where results are
-- queried by metric; BRIN on append-only time columns.

CREATE TABLE wtb_batch_tests (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    file             TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL,
    spec             JSONB NOT NULL,
    spec_hash        TEXT NOT NULL,
    parent_batch_id  TEXT REFERENCES wtb_batch_tests(id),
    fork_node        TEXT NOT NULL DEFAULT '',
    runner           TEXT NOT NULL DEFAULT '',
    total_executions INTEGER NOT NULL DEFAULT 0,
    host             TEXT NOT NULL DEFAULT '',
    wtb_version      TEXT NOT NULL DEFAULT '',
    summary          JSONB,
    created_at       TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ
);
CREATE INDEX idx_batch_tests_created ON wtb_batch_tests USING BRIN (created_at);

CREATE TABLE wtb_batch_test_results (
    id                  BIGSERIAL PRIMARY KEY,
    batch_test_id       TEXT NOT NULL REFERENCES wtb_batch_tests(id),
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
    CONSTRAINT uq_results_batch_execution UNIQUE (batch_test_id, execution_key)
);
-- Results are queried by metric (e.g. metrics @> '{"tokens": 12}'); leaderboards
-- read a batch's rows through the unique index, so no per-score index slows
-- every bulk insert down.
CREATE INDEX idx_batch_test_results_metrics ON wtb_batch_test_results USING GIN (metrics jsonb_path_ops);
CREATE INDEX idx_batch_test_results_created ON wtb_batch_test_results USING BRIN (created_at);
ALTER TABLE wtb_batch_test_results SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);

CREATE TABLE wtb_checkpoints (
    id            TEXT PRIMARY KEY,
    batch_test_id TEXT NOT NULL REFERENCES wtb_batch_tests(id),
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
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_checkpoints_batch ON wtb_checkpoints(batch_test_id, source);
CREATE INDEX idx_checkpoints_cache ON wtb_checkpoints(cache_key) WHERE cache_key <> '';
CREATE INDEX idx_checkpoints_created ON wtb_checkpoints USING BRIN (created_at);

CREATE TABLE wtb_audit_log (
    id            TEXT PRIMARY KEY,
    batch_test_id TEXT NOT NULL DEFAULT '',
    ts            TIMESTAMPTZ NOT NULL,
    severity      TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    message       TEXT NOT NULL,
    execution_key TEXT NOT NULL DEFAULT '',
    node          TEXT NOT NULL DEFAULT '',
    details       JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX idx_audit_batch ON wtb_audit_log(batch_test_id);
CREATE INDEX idx_audit_ts ON wtb_audit_log USING BRIN (ts);

-- +goose Down
DROP TABLE wtb_audit_log;
DROP TABLE wtb_checkpoints;
DROP TABLE wtb_batch_test_results;
DROP TABLE wtb_batch_tests;
