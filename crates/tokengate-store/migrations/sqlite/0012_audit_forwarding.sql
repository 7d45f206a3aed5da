-- tokengate SQLite schema, version 12: forwarding of new audit records to syslog (SPEC §13).
-- One row, written by the first node that forwards: `forwarded_id` is the id of the last audit
-- record taken for sending (it starts at the chain's head then, and only moves forward);
-- `holder` is the node that may take more until `lease_until`, so one node at a time sends.
-- Times are INTEGER unix milliseconds, UTC.

CREATE TABLE audit_forwarding (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    forwarded_id INTEGER NOT NULL,
    holder       TEXT,
    lease_until  INTEGER
) STRICT;
