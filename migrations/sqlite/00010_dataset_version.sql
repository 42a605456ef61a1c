-- +goose Up
-- Dataset versions: what a batch ran, recorded when it starts. cases_hash is
-- the content hash of its cases (file and inline, as resolved: "sha256:…");
-- git_* are the commit checked out where the bench file is, its branch and
-- whether tracked files had uncommitted changes ('' and false outside a git
-- repository). Columns rather than fields of the stored spec: they describe
-- the run, like host and wtb_version — a resume or a fork runs the spec
-- again, it does not become another commit — and they can be queried
-- (which batches ran this dataset, this commit).
ALTER TABLE wtb_batch_tests ADD COLUMN cases_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE wtb_batch_tests ADD COLUMN git_commit TEXT NOT NULL DEFAULT '';
ALTER TABLE wtb_batch_tests ADD COLUMN git_branch TEXT NOT NULL DEFAULT '';
ALTER TABLE wtb_batch_tests ADD COLUMN git_dirty INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE wtb_batch_tests DROP COLUMN git_dirty;
ALTER TABLE wtb_batch_tests DROP COLUMN git_branch;
ALTER TABLE wtb_batch_tests DROP COLUMN git_commit;
ALTER TABLE wtb_batch_tests DROP COLUMN cases_hash;
