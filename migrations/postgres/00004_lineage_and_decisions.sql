-- +goose Up
-- How a batch came from its parent (parent_batch_id): 'fork' (re-ran the
-- nodes after fork_node) or 'rescore' (no node ran: the parent's stored
-- states scored again). '' for a batch without a parent, and for forks stored
-- before this column.
ALTER TABLE wtb_batch_tests ADD COLUMN lineage TEXT NOT NULL DEFAULT '';
-- Why combinations stopped early (adaptive repeats converged, racing pruned
-- them): the evidence, and how many planned executions that saved. A resume
-- honours them; resume --complete runs what they skipped.
ALTER TABLE wtb_batch_tests ADD COLUMN decisions JSONB NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE wtb_batch_tests DROP COLUMN decisions;
ALTER TABLE wtb_batch_tests DROP COLUMN lineage;
