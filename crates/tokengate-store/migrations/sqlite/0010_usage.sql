-- tokengate SQLite schema, version 10: usage (SPEC §13).
-- Allowed requests counted per UTC day (`day`, 'YYYY-MM-DD'), user, token (`token_id`, '' for
-- requests by password or session), client address (canonical text), via ('token',
-- 'password', 'session') and route ('' for forward-auth checks, which name none). Each node
-- adds its counts once a minute; rows older than 90 days are pruned. No foreign keys: usage
-- is history and outlives a deleted token.

CREATE TABLE usage (
    day       TEXT    NOT NULL,
    user_name TEXT    NOT NULL,
    token_id  TEXT    NOT NULL,
    address   TEXT    NOT NULL,
    via       TEXT    NOT NULL CHECK (via IN ('token', 'password', 'session', 'anonymous')),
    route     TEXT    NOT NULL,
    count     INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (day, user_name, token_id, address, via, route)
) STRICT;

CREATE INDEX usage_by_token ON usage (token_id, day);
