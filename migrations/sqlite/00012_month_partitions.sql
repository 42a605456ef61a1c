-- +goose Up
-- PostgreSQL's migration of this number partitions results and checkpoints
-- by month; SQLite has no partitions. This empty migration keeps the two
-- backends' schema versions the same number.
SELECT 1;

-- +goose Down
SELECT 1;
