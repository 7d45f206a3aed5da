-- tokengate SQLite schema, version 2: web UI sessions.
-- Only the SHA-256 of the session id is stored. Times are INTEGER unix milliseconds, UTC.

CREATE TABLE sessions (
    digest       BLOB    NOT NULL PRIMARY KEY CHECK (length(digest) = 32),
    user_name    TEXT    NOT NULL REFERENCES users (name) ON DELETE CASCADE ON UPDATE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_by_user ON sessions (user_name);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
