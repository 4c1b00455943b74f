-- What a message is: something a member wrote ('text'), or a note the group
-- itself keeps in its timeline ('note': "alice added bob", "bob left").
-- Notes are never unread and never anyone's own message.
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'note'));
