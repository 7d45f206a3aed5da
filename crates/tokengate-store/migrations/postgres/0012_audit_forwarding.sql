-- tokengate PostgreSQL schema, version 12: forwarding of new audit records to syslog, as
-- migrations/sqlite/0012.

CREATE TABLE audit_forwarding (
    id           INTEGER     PRIMARY KEY CHECK (id = 1),
    forwarded_id BIGINT      NOT NULL,
    holder       TEXT,
    lease_until  TIMESTAMPTZ
);
