-- Idle expiry and the account page's list of sessions.
ALTER TABLE sessions ADD COLUMN last_used_at TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
