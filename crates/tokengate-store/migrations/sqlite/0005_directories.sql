-- tokengate SQLite schema, version 5: where users come from, their e-mail and groups, local
-- groups, and the permissions setting.
--
-- users.source: 'local', 'ldap' or 'oidc'. users.directory_groups: the groups a directory
-- reported at the last sign-in or sync, joined by ',' (group names never contain one); local
-- memberships live in group_members. users.deprovisioned: 1 while the directory sync keeps
-- the user disabled (the sync enables only users it disabled itself).

ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'local'
    CHECK (source IN ('local', 'ldap', 'oidc'));
ALTER TABLE users ADD COLUMN directory_groups TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN deprovisioned INTEGER NOT NULL DEFAULT 0
    CHECK (deprovisioned IN (0, 1));

CREATE TABLE groups (
    name       TEXT    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
    user_name  TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE ON UPDATE CASCADE,
    PRIMARY KEY (group_name, user_name)
) STRICT;

CREATE INDEX group_members_by_user ON group_members (user_name);

-- JSON object: {"use_tokens": [...], "create_own_tokens": [...], "create_tokens_for_others": [...]}
ALTER TABLE settings ADD COLUMN permissions TEXT NOT NULL
    DEFAULT '{"use_tokens":["*"],"create_own_tokens":["*"],"create_tokens_for_others":[]}';

-- Group membership decides permissions: every change moves the change counter.
DROP TRIGGER users_changed_bump;
CREATE TRIGGER users_changed_bump
AFTER UPDATE OF admin, disabled, password_hash, directory_groups ON users
WHEN OLD.admin IS NOT NEW.admin
  OR OLD.disabled IS NOT NEW.disabled
  OR OLD.password_hash IS NOT NEW.password_hash
  OR OLD.directory_groups IS NOT NEW.directory_groups
BEGIN
    UPDATE meta SET change_counter = change_counter + 1 WHERE id = 1;
END;

CREATE TRIGGER group_members_added_bump AFTER INSERT ON group_members
BEGIN
    UPDATE meta SET change_counter = change_counter + 1 WHERE id = 1;
END;

CREATE TRIGGER group_members_removed_bump AFTER DELETE ON group_members
BEGIN
    UPDATE meta SET change_counter = change_counter + 1 WHERE id = 1;
END;
