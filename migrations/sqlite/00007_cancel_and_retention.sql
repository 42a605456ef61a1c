-- +goose Up
-- Cancel from anywhere: `wtb cancel BATCH` (any process, any machine) asks the
-- batch's owner to stop by writing who asked and when here; the owner reads it
-- when it renews its lease and stops as on Ctrl-C. A new owner (a resume)
-- starts with no request.
ALTER TABLE wtb_batch_tests ADD COLUMN cancel_requested_by TEXT NOT NULL DEFAULT '';
ALTER TABLE wtb_batch_tests ADD COLUMN cancel_requested_at TEXT;
-- Retention (`wtb delete`, `wtb gc`) looks up the batches derived from one
-- (forks, rescores) before deleting it; so does the foreign key check of the
-- deletion itself.
CREATE INDEX idx_batch_tests_parent ON wtb_batch_tests(parent_batch_id) WHERE parent_batch_id IS NOT NULL;

-- +goose Down
DROP INDEX idx_batch_tests_parent;
ALTER TABLE wtb_batch_tests DROP COLUMN cancel_requested_at;
ALTER TABLE wtb_batch_tests DROP COLUMN cancel_requested_by;
