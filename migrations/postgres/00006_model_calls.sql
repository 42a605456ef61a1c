-- +goose Up
-- The model calls a node run made through the gateway (see the SQLite
-- migration of the same number). Like results and checkpoints since migration
-- 5, rows check their batch once per write rather than by foreign key.
CREATE TABLE wtb_model_calls (
    batch_test_id TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    ordinal       INTEGER NOT NULL,
    run_key       TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL DEFAULT 'ran',
    node          TEXT NOT NULL DEFAULT '',
    execution_key TEXT NOT NULL DEFAULT '',
    upstream      TEXT NOT NULL DEFAULT '',
    method        TEXT NOT NULL DEFAULT '',
    path          TEXT NOT NULL DEFAULT '',
    query         TEXT NOT NULL DEFAULT '',
    status        INTEGER NOT NULL DEFAULT 0,
    streamed      BOOLEAN NOT NULL DEFAULT FALSE,
    source        TEXT NOT NULL DEFAULT '',
    model         TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    match_key     TEXT NOT NULL DEFAULT '',
    started_at    TIMESTAMPTZ NOT NULL,
    duration_ms   DOUBLE PRECISION NOT NULL DEFAULT 0,
    first_byte_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    request       JSONB NOT NULL DEFAULT '{}',
    response      JSONB NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (batch_test_id, run_id, ordinal)
);
CREATE INDEX idx_model_calls_run_key ON wtb_model_calls(run_key, outcome, created_at);
CREATE INDEX idx_model_calls_node ON wtb_model_calls(node, created_at);

-- +goose Down
DROP TABLE wtb_model_calls;
