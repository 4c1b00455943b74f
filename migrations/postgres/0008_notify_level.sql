-- How much of a conversation each member wants to be told about: every
-- message, only those that mention them, or nothing (muted).
ALTER TABLE members ADD COLUMN notify TEXT NOT NULL DEFAULT 'all'
    CHECK (notify IN ('all', 'mentions', 'none'));
