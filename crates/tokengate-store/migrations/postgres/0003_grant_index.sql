-- The hot path's lookup on a cache miss reads a token's id, owner and expiry by its digest.
-- This index holds all four (an index-only scan), like SQLite's in the same migration.
CREATE INDEX tokens_grant_by_digest ON tokens (digest) INCLUDE (id, owner, expires_at);
