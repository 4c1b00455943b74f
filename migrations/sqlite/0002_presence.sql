-- When each user's last socket closed, for "last seen".
ALTER TABLE users ADD COLUMN last_seen_at TEXT;
