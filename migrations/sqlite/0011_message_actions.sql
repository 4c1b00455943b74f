-- Messages change after they are sent: edited, deleted for everyone, reacted
-- to. Each change takes the next sequence number of its conversation, like a
-- new message, and the message remembers its latest one (changed_seq), so a
-- page that has shown everything up to N gets every message created or
-- changed after N, each once, in its current state.
ALTER TABLE messages ADD COLUMN changed_seq INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET changed_seq = seq;
CREATE INDEX messages_changes ON messages(conversation_id, changed_seq);
ALTER TABLE messages ADD COLUMN edited_at TEXT;
-- Deleted for everyone: the body is emptied and the attachment row removed;
-- the row stays so the timeline (and replies to it) can say so.
ALTER TABLE messages ADD COLUMN deleted_at TEXT;
-- The message this one answers.
ALTER TABLE messages ADD COLUMN reply_to INTEGER REFERENCES messages(id) ON DELETE SET NULL;

-- One reaction per person, emoji and message.
CREATE TABLE reactions (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);

-- Who a message calls by name: members of its conversation when it was sent.
CREATE TABLE mentions (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX mentions_user ON mentions(user_id, message_id);
