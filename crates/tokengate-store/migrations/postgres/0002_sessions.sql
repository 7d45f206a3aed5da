-- tokengate PostgreSQL schema, version 2: web UI sessions (as migrations/sqlite/0002).
-- Only the SHA-256 of the session id is stored. Times are TIMESTAMPTZ truncated to the ms.

CREATE TABLE sessions (
    digest       BYTEA            NOT NULL PRIMARY KEY CHECK (octet_length(digest) = 32),
    user_name    TEXT COLLATE "C" NOT NULL
                 REFERENCES users (name) ON DELETE CASCADE ON UPDATE CASCADE,
    csrf_token   TEXT             NOT NULL,
    created_at   TIMESTAMPTZ      NOT NULL,
    last_seen_at TIMESTAMPTZ      NOT NULL,
    expires_at   TIMESTAMPTZ      NOT NULL
);

CREATE INDEX sessions_by_user ON sessions (user_name);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
