-- +goose Up
-- PostgreSQL's results and checkpoints check their batch once per write from
-- migration 5 on; SQLite keeps its per-row foreign keys (cheap in-process),
-- and this empty step keeps both schemas at the same version.
SELECT 1;

-- +goose Down
SELECT 1;
