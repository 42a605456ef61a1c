-- +goose Up
-- The model calls a node run made through the gateway: one row per call, in
-- order, under the node run (its checkpoint id, or the failed attempt) and
-- its identity (run_key), which replay looks recordings up by. Request and
-- response are JSON documents: headers (secrets never stored) and the body
-- as JSON, text or base64; a streamed response keeps its chunks and timing.
CREATE TABLE wtb_model_calls (
    batch_test_id TEXT NOT NULL REFERENCES wtb_batch_tests(id),
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
    streamed      INTEGER NOT NULL DEFAULT 0,
    source        TEXT NOT NULL DEFAULT '',
    model         TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    match_key     TEXT NOT NULL DEFAULT '',
    started_at    TEXT NOT NULL,
    duration_ms   REAL NOT NULL DEFAULT 0,
    first_byte_ms REAL NOT NULL DEFAULT 0,
    request       TEXT NOT NULL DEFAULT '{}',
    response      TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL,
    PRIMARY KEY (batch_test_id, run_id, ordinal)
);
CREATE INDEX idx_model_calls_run_key ON wtb_model_calls(run_key, outcome, created_at);
CREATE INDEX idx_model_calls_node ON wtb_model_calls(node, created_at);

-- +goose Down
DROP TABLE wtb_model_calls;
