-- +goose Up
-- The logical schema of WTB's store. PostgreSQL has the same tables with native
-- types (migrations/postgres); JSON lives in TEXT columns here.

CREATE TABLE wtb_batch_tests (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    file             TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL,                 -- running, completed, failed, cancelled
    spec             TEXT NOT NULL,                 -- resolved batch spec (JSON): what resume and fork re-run
    spec_hash        TEXT NOT NULL,
    parent_batch_id  TEXT REFERENCES wtb_batch_tests(id),
    fork_node        TEXT NOT NULL DEFAULT '',
    runner           TEXT NOT NULL DEFAULT '',
    total_executions INTEGER NOT NULL DEFAULT 0,
    host             TEXT NOT NULL DEFAULT '',
    wtb_version      TEXT NOT NULL DEFAULT '',
    summary          TEXT,                          -- leaderboard and verdict (JSON)
    created_at       TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    finished_at      TEXT
);
CREATE INDEX idx_batch_tests_created ON wtb_batch_tests(created_at);

CREATE TABLE wtb_batch_test_results (
    id                  INTEGER PRIMARY KEY,        -- rowid: no AUTOINCREMENT bookkeeping per insert
    batch_test_id       TEXT NOT NULL REFERENCES wtb_batch_tests(id),
    execution_key       TEXT NOT NULL,              -- combination/case/repeat: stable across retries and resumes
    execution_id        TEXT NOT NULL,              -- the attempt that produced this row
    combination_name    TEXT NOT NULL,
    variant_config      TEXT NOT NULL,              -- node -> variant (JSON)
    case_id             TEXT NOT NULL,
    repeat_index        INTEGER NOT NULL,
    status              TEXT NOT NULL,              -- succeeded, failed
    success             INTEGER NOT NULL DEFAULT 0,
    error               TEXT NOT NULL DEFAULT '',
    failed_node         TEXT NOT NULL DEFAULT '',
    failure_kind        TEXT NOT NULL DEFAULT '',
    metrics             TEXT NOT NULL DEFAULT '{}', -- node-reported metrics (JSON)
    scores              TEXT NOT NULL DEFAULT '{}', -- evaluator -> score (JSON)
    overall_score       REAL NOT NULL DEFAULT 0.0,
    passed              INTEGER NOT NULL DEFAULT 0,
    duration_ms         REAL NOT NULL DEFAULT 0,
    worker_id           TEXT NOT NULL DEFAULT '',
    attempts            INTEGER NOT NULL DEFAULT 1,
    final_checkpoint_id TEXT NOT NULL DEFAULT '',
    created_at          TEXT NOT NULL,
    UNIQUE (batch_test_id, execution_key)
);
-- Leaderboards are computed from a batch's rows (the unique index serves that
-- lookup), so no per-score index slows every insert down.

-- The state after every node. A checkpoint's id is derived from
-- (batch, parent checkpoint, node, node config, branch), so writing one twice
-- stores it once.
CREATE TABLE wtb_checkpoints (
    id            TEXT PRIMARY KEY,
    batch_test_id TEXT NOT NULL REFERENCES wtb_batch_tests(id),
    parent_id     TEXT NOT NULL DEFAULT '',
    node          TEXT NOT NULL DEFAULT '',        -- '' for the root (the case input)
    position      INTEGER NOT NULL DEFAULT 0,      -- 0 = root, 1 = first node, ...
    variant       TEXT NOT NULL DEFAULT '',
    config_hash   TEXT NOT NULL DEFAULT '',
    cache_key     TEXT NOT NULL DEFAULT '',        -- set for cacheable node runs
    source        TEXT NOT NULL,                   -- root, ran, cached, forked
    segment_key   TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL,
    output        TEXT NOT NULL DEFAULT '{}',
    metrics       TEXT NOT NULL DEFAULT '{}',
    duration_ms   REAL NOT NULL DEFAULT 0,
    worker_id     TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL
);
CREATE INDEX idx_checkpoints_batch ON wtb_checkpoints(batch_test_id, source);
CREATE INDEX idx_checkpoints_cache ON wtb_checkpoints(cache_key) WHERE cache_key <> '';

CREATE TABLE wtb_audit_log (
    id            TEXT PRIMARY KEY,
    batch_test_id TEXT NOT NULL DEFAULT '',
    ts            TEXT NOT NULL,
    severity      TEXT NOT NULL,                   -- INFO, SUCCESS, WARNING, ERROR, DEBUG
    event_type    TEXT NOT NULL,
    message       TEXT NOT NULL,
    execution_key TEXT NOT NULL DEFAULT '',
    node          TEXT NOT NULL DEFAULT '',
    details       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX idx_audit_batch_ts ON wtb_audit_log(batch_test_id, ts);

-- +goose Down
DROP TABLE wtb_audit_log;
DROP TABLE wtb_checkpoints;
DROP TABLE wtb_batch_test_results;
DROP TABLE wtb_batch_tests;
