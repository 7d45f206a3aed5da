-- tokengate SQLite schema, version 13: where a token's secret comes from (SPEC §11).
-- `made_by`: the id of the token whose request created this one; NULL when it was made with
-- a password, a session or the CLI (and for every token made before this version). Deleting
-- a token deletes every token made by it, transitively, in the same statement (no foreign
-- key: `db copy` imports tokens in id order, a maker possibly after what it made).
-- `rotated_at`: when the secret was last replaced (a rotation keeps the token's length from
-- then); `rotated_from`: the hint of the secret that rotation replaced. NULL = never rotated.

ALTER TABLE tokens ADD COLUMN made_by TEXT;
ALTER TABLE tokens ADD COLUMN rotated_at INTEGER;
ALTER TABLE tokens ADD COLUMN rotated_from TEXT;

CREATE INDEX tokens_by_maker ON tokens (made_by) WHERE made_by IS NOT NULL;
