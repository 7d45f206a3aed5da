-- tokengate PostgreSQL schema, version 4: known addresses (SPEC §2.6), as
-- migrations/sqlite/0004. `address` is the canonical text of an IP address; `last_seen` the
-- last time the user's password worked from it (TIMESTAMPTZ truncated to the ms).

CREATE TABLE known_addresses (
    user_name TEXT COLLATE "C" NOT NULL
              REFERENCES users (name) ON DELETE CASCADE ON UPDATE CASCADE,
    address   TEXT             NOT NULL,
    last_seen TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (user_name, address)
);
