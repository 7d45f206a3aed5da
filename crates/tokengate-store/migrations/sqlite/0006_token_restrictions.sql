-- tokengate SQLite schema, version 6: token restrictions (access, paths, routes, the token's
-- own IP allow-list) as one JSON object; NULL = unrestricted (every token made before).
-- The grant index covers them, so the hot-path lookup still reads the index alone.

ALTER TABLE tokens ADD COLUMN restrictions TEXT;

DROP INDEX tokens_grant_by_digest;
CREATE INDEX tokens_grant_by_digest ON tokens (digest, id, owner, expires_at, restrictions);

-- A change of restrictions can alter a decision: it moves the change counter.
DROP TRIGGER tokens_changed_bump;
CREATE TRIGGER tokens_changed_bump AFTER UPDATE OF owner, expires_at, digest, restrictions ON tokens
WHEN OLD.owner IS NOT NEW.owner
  OR OLD.expires_at IS NOT NEW.expires_at
  OR OLD.digest IS NOT NEW.digest
  OR OLD.restrictions IS NOT NEW.restrictions
BEGIN
    UPDATE meta SET change_counter = change_counter + 1 WHERE id = 1;
END;
