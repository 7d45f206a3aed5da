-- tokengate SQLite schema, version 1.
-- Times are INTEGER unix milliseconds, UTC (see src/sqlite/codec.rs).
-- Booleans are INTEGER 0/1. JSON is TEXT.

CREATE TABLE users (
    name          TEXT    NOT NULL PRIMARY KEY,
    display_name  TEXT    NOT NULL,
    admin         INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    password_hash TEXT,
    failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until  INTEGER
) STRICT;

CREATE TABLE tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    owner        TEXT    NOT NULL REFERENCES users (name) ON DELETE CASCADE ON UPDATE CASCADE,
    name         TEXT    NOT NULL,
    -- lower-cased `name` (Unicode, folded in Rust) for case-insensitive search
    name_folded  TEXT    NOT NULL,
    -- SHA-256 of the whole token; the secret itself is never stored
    digest       BLOB    NOT NULL UNIQUE CHECK (length(digest) = 32),
    hint         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT    NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    last_used_ip TEXT
) STRICT;

CREATE INDEX tokens_by_owner ON tokens (owner, id);

-- One row (id = 1); absent until the first save, then defaults apply.
CREATE TABLE settings (
    id            INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    max_validity  TEXT    NOT NULL,
    ip_allowlist  TEXT    NOT NULL, -- JSON array of strings
    password_auth TEXT    NOT NULL,
    admins_only   INTEGER NOT NULL CHECK (admins_only IN (0, 1))
) STRICT;

-- No foreign keys: audit records outlive the users and tokens they name.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    user_name  TEXT,
    token_id   TEXT,
    details    TEXT    NOT NULL, -- JSON
    ip         TEXT,
    request_id TEXT
) STRICT;

CREATE INDEX audit_by_user ON audit (user_name, id);
CREATE INDEX audit_by_actor ON audit (actor, id);
CREATE INDEX audit_by_action ON audit (action, id);

-- One row (id = 1). change_counter moves on every change that can alter an authentication
-- decision; other processes poll it.
CREATE TABLE meta (
    id             INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    change_counter INTEGER NOT NULL
) STRICT;

INSERT INTO meta (id, change_counter) VALUES (1, 0);

-- Not on token insert (a new digest cannot be in anyone's cache), not on last-use updates,
-- not on failed_logins/locked_until updates (hot paths that decide nothing cached elsewhere).
CREATE TRIGGER tokens_deleted_bump AFTER DELETE ON tokens
BEGIN
    UPDATE meta SET change_counter = change_counter + 1 WHERE id = 1;
END;

CREATE TRIGGER tokens_changed_bump AFTER UPDATE OF owner, expires_at, digest ON tokens
WHEN OLD.owner IS NOT NEW.owner
  OR OLD.expires_at IS NOT NEW.expires_at
  OR OLD.digest IS NOT NEW.digest
BEGIN
    UPDATE meta SET change_counter = change_counter + 1 WHERE id = 1;
END;

CREATE TRIGGER users_changed_bump AFTER UPDATE OF admin, disabled, password_hash ON users
WHEN OLD.admin IS NOT NEW.admin
  OR OLD.disabled IS NOT NEW.disabled
  OR OLD.password_hash IS NOT NEW.password_hash
BEGIN
    UPDATE meta SET change_counter = change_counter + 1 WHERE id = 1;
END;

CREATE TRIGGER users_deleted_bump AFTER DELETE ON users
BEGIN
    UPDATE meta SET change_counter = change_counter + 1 WHERE id = 1;
END;

CREATE TRIGGER settings_inserted_bump AFTER INSERT ON settings
BEGIN
    UPDATE meta SET change_counter = change_counter + 1 WHERE id = 1;
END;

CREATE TRIGGER settings_updated_bump AFTER UPDATE ON settings
BEGIN
    UPDATE meta SET change_counter = change_counter + 1 WHERE id = 1;
END;

CREATE TRIGGER settings_deleted_bump AFTER DELETE ON settings
BEGIN
    UPDATE meta SET change_counter = change_counter + 1 WHERE id = 1;
END;
