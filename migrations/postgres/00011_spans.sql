-- +goose Up
-- The spans of a node run (see the SQLite migration of the same number).
-- Like results, checkpoints and model calls, rows check their batch once per
-- write rather than by foreign key.
CREATE TABLE wtb_spans (
    batch_test_id TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    node          TEXT NOT NULL DEFAULT '',
    execution_key TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL DEFAULT 'ran',
    spans         JSONB NOT NULL DEFAULT '[]',
    dropped       BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (batch_test_id, run_id)
);

-- +goose Down
DROP TABLE wtb_spans;
