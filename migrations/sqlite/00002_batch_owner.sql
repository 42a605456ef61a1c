-- +goose Up
-- A batch has one owner at a time: the wtb process running it holds a lease it
-- renews; a second run or resume of the batch is refused while the lease is
-- live, and takes over once the owner has died and its lease has run out.
-- lease_until is a Julian day (julianday('now')), so only the database's
-- clock decides whether a lease has expired.
ALTER TABLE wtb_batch_tests ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE wtb_batch_tests ADD COLUMN lease_until REAL;

-- +goose Down
ALTER TABLE wtb_batch_tests DROP COLUMN lease_until;
ALTER TABLE wtb_batch_tests DROP COLUMN owner;
