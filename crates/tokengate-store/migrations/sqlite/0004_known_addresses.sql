-- tokengate SQLite schema, version 4: known addresses (SPEC §2.6).
-- A user's password worked from `address` (canonical text of an IP address), last at
-- `last_seen` (INTEGER unix milliseconds, UTC). A locked user can still sign in from an address
-- seen in the last 30 days. Deleted with their user.

CREATE TABLE known_addresses (
    user_name TEXT    NOT NULL REFERENCES users (name) ON DELETE CASCADE ON UPDATE CASCADE,
    address   TEXT    NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (user_name, address)
) STRICT;
