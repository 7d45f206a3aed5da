-- tokengate SQLite schema, version 7: token rotation. After a rotation the old secret's
-- digest stays valid until `previous_until` (the grace period); NULL = no old secret.

ALTER TABLE tokens ADD COLUMN previous_digest BLOB CHECK (length(previous_digest) = 32);
ALTER TABLE tokens ADD COLUMN previous_until INTEGER;

CREATE UNIQUE INDEX tokens_by_previous_digest ON tokens (previous_digest)
    WHERE previous_digest IS NOT NULL;
