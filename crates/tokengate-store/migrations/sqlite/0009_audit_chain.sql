-- tokengate SQLite schema, version 9: the audit log's hash chain (SPEC §13).
-- Every record stores the hash of the one before it and its own: SHA-256 of `prev_hash` and
-- the record's canonical JSON, hex (tokengate_core::chain). `audit_chain` holds the newest
-- record's id and hash; writers lock it, so appends are serialised and ids follow the chain.
-- Records written before this version are chained by tokengate when it opens the database.

ALTER TABLE audit ADD COLUMN prev_hash TEXT;
ALTER TABLE audit ADD COLUMN hash TEXT;

CREATE TABLE audit_chain (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_id   INTEGER NOT NULL,
    last_hash TEXT    NOT NULL
) STRICT;

INSERT INTO audit_chain (id, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
