-- +goose Up
-- What a user needs to debug an execution: each node run's stderr and runner
-- log lines (the last MaxLogBytes of them), on its checkpoint; on a result, the
-- failed node's lines and why each evaluator gave less than a full score.
-- Adding a column with a constant default rewrites no rows (PostgreSQL 11+).
ALTER TABLE wtb_checkpoints ADD COLUMN logs JSONB NOT NULL DEFAULT '[]';
ALTER TABLE wtb_batch_test_results ADD COLUMN logs JSONB NOT NULL DEFAULT '[]';
ALTER TABLE wtb_batch_test_results ADD COLUMN notes JSONB NOT NULL DEFAULT '{}';
-- Failed executions are few and looked up on every leaderboard and filter:
-- a partial index costs successful inserts nothing.
CREATE INDEX idx_results_failed ON wtb_batch_test_results(batch_test_id, execution_key) WHERE status = 'failed';

-- +goose Down
DROP INDEX idx_results_failed;
ALTER TABLE wtb_batch_test_results DROP COLUMN notes;
ALTER TABLE wtb_batch_test_results DROP COLUMN logs;
ALTER TABLE wtb_checkpoints DROP COLUMN logs;
