-- +goose Up
-- What each model call used and what it cost (see the SQLite migration of
-- the same number).
ALTER TABLE wtb_model_calls
    ADD COLUMN input_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN output_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN cache_read_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN reasoning_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN usage_reported BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN priced BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE wtb_model_calls
    DROP COLUMN cost_usd, DROP COLUMN priced, DROP COLUMN usage_reported, DROP COLUMN reasoning_tokens,
    DROP COLUMN cache_write_tokens, DROP COLUMN cache_read_tokens, DROP COLUMN output_tokens, DROP COLUMN input_tokens;
