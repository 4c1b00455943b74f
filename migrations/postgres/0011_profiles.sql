-- Profiles: a display name shown beside the username, a short status line
-- and an avatar (the SHA-256 of its re-encoded image in the media folder).
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN avatar TEXT;
