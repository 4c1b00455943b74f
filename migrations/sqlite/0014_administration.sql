-- Running a server: administrators, deactivated accounts, who may join
-- (a setting the admin page can change, and invitations), and a log of what
-- administrators did.
ALTER TABLE users ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN deactivated_at TEXT;

-- The first account of a server that had accounts before administrators
-- existed becomes its administrator.
UPDATE users SET is_admin = TRUE WHERE id = (SELECT MIN(id) FROM users);

-- Settings changed at run time, overriding the configuration.
CREATE TABLE server_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE invites (
    id         INTEGER PRIMARY KEY,
    -- SHA-256 of the link's token; the token itself is never stored.
    token_hash TEXT NOT NULL UNIQUE,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    uses_left  INTEGER NOT NULL CHECK (uses_left >= 0),
    revoked_at TEXT
);

CREATE TABLE admin_log (
    id         INTEGER PRIMARY KEY,
    -- Who did it: an administrator, or NULL for the command line.
    actor_id   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    actor_name TEXT NOT NULL,
    action     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX admin_log_created ON admin_log(created_at);
