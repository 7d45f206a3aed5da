-- tokengate PostgreSQL schema, version 7: token rotation, as migrations/sqlite/0007.

ALTER TABLE tokens ADD COLUMN previous_digest BYTEA CHECK (octet_length(previous_digest) = 32);
ALTER TABLE tokens ADD COLUMN previous_until TIMESTAMPTZ;

CREATE UNIQUE INDEX tokens_by_previous_digest ON tokens (previous_digest)
    WHERE previous_digest IS NOT NULL;
