-- Group conversations: who created them (and may rename them).
ALTER TABLE conversations ADD COLUMN created_by INTEGER REFERENCES users(id) ON DELETE SET NULL;
