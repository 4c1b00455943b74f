-- Browsers that logged in to an account before (the hash of a long-lived
-- cookie token): the per-username login limit does not lock them out.
CREATE TABLE known_devices (
    token_hash TEXT NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (token_hash, user_id)
);
CREATE INDEX known_devices_user ON known_devices(user_id);
