-- tokengate PostgreSQL schema, version 9: the audit log's hash chain, as migrations/sqlite/0009.
-- Writers lock the one `audit_chain` row (FOR UPDATE), which serialises appends across nodes.

ALTER TABLE audit ADD COLUMN prev_hash TEXT COLLATE "C";
ALTER TABLE audit ADD COLUMN hash TEXT COLLATE "C";

CREATE TABLE audit_chain (
    id        INTEGER          PRIMARY KEY CHECK (id = 1),
    last_id   BIGINT           NOT NULL,
    last_hash TEXT COLLATE "C" NOT NULL
);

INSERT INTO audit_chain (id, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
