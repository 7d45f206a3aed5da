-- tokengate PostgreSQL schema, version 11: which authentication events are audited (SPEC §13),
-- a JSON object {"success", "failure", "denied"}; all off until an admin turns them on.

ALTER TABLE settings ADD COLUMN audit_auth_events TEXT NOT NULL
    DEFAULT '{"success":false,"failure":false,"denied":false}';
