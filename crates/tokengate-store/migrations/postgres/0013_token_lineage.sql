-- tokengate PostgreSQL schema, version 13: where a token's secret comes from, as
-- migrations/sqlite/0013.

ALTER TABLE tokens ADD COLUMN made_by TEXT;
ALTER TABLE tokens ADD COLUMN rotated_at TIMESTAMPTZ;
ALTER TABLE tokens ADD COLUMN rotated_from TEXT;

CREATE INDEX tokens_by_maker ON tokens (made_by) WHERE made_by IS NOT NULL;
