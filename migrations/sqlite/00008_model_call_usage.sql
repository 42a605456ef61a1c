-- +goose Up
-- What each model call used (tokens by kind, as its response reported them)
-- and what it cost by the bench file's price table; priced is false for a
-- call whose model has no price (its cost is unknown, never $0).
ALTER TABLE wtb_model_calls ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wtb_model_calls ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wtb_model_calls ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wtb_model_calls ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wtb_model_calls ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wtb_model_calls ADD COLUMN usage_reported INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wtb_model_calls ADD COLUMN priced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wtb_model_calls ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE wtb_model_calls DROP COLUMN cost_usd;
ALTER TABLE wtb_model_calls DROP COLUMN priced;
ALTER TABLE wtb_model_calls DROP COLUMN usage_reported;
ALTER TABLE wtb_model_calls DROP COLUMN reasoning_tokens;
ALTER TABLE wtb_model_calls DROP COLUMN cache_write_tokens;
ALTER TABLE wtb_model_calls DROP COLUMN cache_read_tokens;
ALTER TABLE wtb_model_calls DROP COLUMN output_tokens;
ALTER TABLE wtb_model_calls DROP COLUMN input_tokens;
