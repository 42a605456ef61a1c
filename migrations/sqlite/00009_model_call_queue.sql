-- +goose Up
-- How many times the gateway sent each model call (more than one when the
-- upstream pushed back and it retried; 0 for a replayed call) and how long
-- the call waited in the gateway (its upstream's limits, the waits between
-- attempts), kept apart from its latency (duration_ms counts the attempt
-- that answered).
ALTER TABLE wtb_model_calls ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wtb_model_calls ADD COLUMN queue_ms REAL NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE wtb_model_calls DROP COLUMN queue_ms;
ALTER TABLE wtb_model_calls DROP COLUMN attempts;
