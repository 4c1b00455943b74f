-- The look-alike form of each username (Unicode TR39 skeleton, lower-cased):
-- a new name whose skeleton is taken looks like someone else's.
-- Existing rows are filled in by the server when it starts.
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE INDEX users_skeleton ON users(username_skeleton);
