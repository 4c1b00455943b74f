-- Files attached to messages. The bytes live on disk, named by their hash.
CREATE TABLE attachments (
    id            INTEGER PRIMARY KEY,
    message_id    INTEGER NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE,
    sha256        TEXT NOT NULL,
    -- Sniffed from the bytes, never taken from the client.
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL,
    -- For display and the download name only; never used as a path.
    filename      TEXT NOT NULL,
    has_thumbnail INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX attachments_sha256 ON attachments(sha256);
