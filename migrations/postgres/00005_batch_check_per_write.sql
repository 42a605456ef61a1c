-- +goose Up
-- Results and checkpoints no longer check their batch row by row (a foreign
-- key cost ~11 µs a row on bulk writes): the store checks and locks the
-- batches a write names once per transaction instead (SELECT … FOR KEY
-- SHARE), which keeps the same guarantee — no row of a batch that does not
-- exist, no batch deleted while rows are being added — at one query a write.
ALTER TABLE wtb_batch_test_results DROP CONSTRAINT IF EXISTS wtb_batch_test_results_batch_test_id_fkey;
ALTER TABLE wtb_checkpoints DROP CONSTRAINT IF EXISTS wtb_checkpoints_batch_test_id_fkey;

-- +goose Down
ALTER TABLE wtb_batch_test_results ADD CONSTRAINT wtb_batch_test_results_batch_test_id_fkey
    FOREIGN KEY (batch_test_id) REFERENCES wtb_batch_tests(id);
ALTER TABLE wtb_checkpoints ADD CONSTRAINT wtb_checkpoints_batch_test_id_fkey
    FOREIGN KEY (batch_test_id) REFERENCES wtb_batch_tests(id);
