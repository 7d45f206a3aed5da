-- tokengate PostgreSQL schema, version 10: usage (SPEC §13), as migrations/sqlite/0010.
-- Allowed requests counted per UTC day (`day`, 'YYYY-MM-DD'), user, token ('' for none),
-- client address, via and route ('' for none); added up by every node once a minute, pruned
-- after 90 days.

CREATE TABLE usage (
    day       TEXT COLLATE "C" NOT NULL,
    user_name TEXT COLLATE "C" NOT NULL,
    token_id  TEXT COLLATE "C" NOT NULL,
    address   TEXT COLLATE "C" NOT NULL,
    via       TEXT COLLATE "C" NOT NULL
              CHECK (via IN ('token', 'password', 'session', 'anonymous')),
    route     TEXT COLLATE "C" NOT NULL,
    count     BIGINT           NOT NULL CHECK (count >= 0),
    PRIMARY KEY (day, user_name, token_id, address, via, route)
);

CREATE INDEX usage_by_token ON usage (token_id, day);
