-- tokengate PostgreSQL schema, version 5: where users come from, their e-mail and groups,
-- local groups, and the permissions setting, as migrations/sqlite/0005.

ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'local'
    CHECK (source IN ('local', 'ldap', 'oidc'));
ALTER TABLE users ADD COLUMN directory_groups TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN deprovisioned BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE groups (
    name       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    created_at TIMESTAMPTZ      NOT NULL
);

CREATE TABLE group_members (
    group_name TEXT COLLATE "C" NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
    user_name  TEXT COLLATE "C" NOT NULL
               REFERENCES users (name) ON DELETE CASCADE ON UPDATE CASCADE,
    PRIMARY KEY (group_name, user_name)
);

CREATE INDEX group_members_by_user ON group_members (user_name);

ALTER TABLE settings ADD COLUMN permissions TEXT NOT NULL
    DEFAULT '{"use_tokens":["*"],"create_own_tokens":["*"],"create_tokens_for_others":[]}';

-- Group membership decides permissions: every change moves the change counter.
CREATE OR REPLACE FUNCTION tokengate_users_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tokengate_bump((
        SELECT COUNT(*) FROM old_rows JOIN new_rows USING (name)
        WHERE old_rows.admin IS DISTINCT FROM new_rows.admin
           OR old_rows.disabled IS DISTINCT FROM new_rows.disabled
           OR old_rows.password_hash IS DISTINCT FROM new_rows.password_hash
           OR old_rows.directory_groups IS DISTINCT FROM new_rows.directory_groups));
    RETURN NULL;
END;
$$;

CREATE TRIGGER group_members_added_bump AFTER INSERT ON group_members
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION tokengate_rows_new();

CREATE TRIGGER group_members_removed_bump AFTER DELETE ON group_members
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION tokengate_rows_gone();
