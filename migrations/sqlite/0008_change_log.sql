-- A change log per conversation: every visible change takes the next
-- sequence number of its conversation, in the same transaction, so a page
-- that has shown everything up to N asks for the changes after N and can
-- never skip one. Only new messages are changes so far.
ALTER TABLE conversations ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;

-- Existing messages are numbered in the order they were stored.
UPDATE messages SET seq = numbered.seq
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY conversation_id ORDER BY id) AS seq
      FROM messages) AS numbered
WHERE numbered.id = messages.id;
UPDATE conversations SET last_seq =
    COALESCE((SELECT MAX(seq) FROM messages WHERE conversation_id = conversations.id), 0);

CREATE UNIQUE INDEX messages_seq ON messages(conversation_id, seq);
