-- +goose Up
-- The spans of a node run: what its own OpenTelemetry instrumentation
-- exported to the OTLP receiver beside the nodes, the gen_ai spans of the
-- model calls the gateway saw that none of them describes, and the node
-- run's own span. One row per node run (its checkpoint id, or the failed
-- attempt), the spans as one JSON array; dropped counts the spans past the
-- node run's bound that were not kept.
CREATE TABLE wtb_spans (
    batch_test_id TEXT NOT NULL REFERENCES wtb_batch_tests(id),
    run_id        TEXT NOT NULL,
    node          TEXT NOT NULL DEFAULT '',
    execution_key TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL DEFAULT 'ran',
    spans         TEXT NOT NULL DEFAULT '[]',
    dropped       INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (batch_test_id, run_id)
);

-- +goose Down
DROP TABLE wtb_spans;
