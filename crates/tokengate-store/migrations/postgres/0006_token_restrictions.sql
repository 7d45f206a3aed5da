-- tokengate PostgreSQL schema, version 6: token restrictions, as migrations/sqlite/0006.

ALTER TABLE tokens ADD COLUMN restrictions TEXT;

DROP INDEX tokens_grant_by_digest;
CREATE INDEX tokens_grant_by_digest ON tokens (digest) INCLUDE (id, owner, expires_at, restrictions);

CREATE OR REPLACE FUNCTION tokengate_tokens_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tokengate_bump((
        SELECT COUNT(*) FROM old_rows JOIN new_rows USING (id)
        WHERE old_rows.owner IS DISTINCT FROM new_rows.owner
           OR old_rows.expires_at IS DISTINCT FROM new_rows.expires_at
           OR old_rows.digest IS DISTINCT FROM new_rows.digest
           OR old_rows.restrictions IS DISTINCT FROM new_rows.restrictions));
    RETURN NULL;
END;
$$;
