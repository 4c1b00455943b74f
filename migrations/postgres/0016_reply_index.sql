-- Replies by the message they answer: an edit or deletion marks the replies
-- quoting it (`UPDATE messages ... WHERE reply_to = $1`), and deleting a
-- message sets its replies' `reply_to` to NULL (the foreign key). Without
-- this index each of those read the whole messages table.
CREATE INDEX messages_reply_to ON messages(reply_to) WHERE reply_to IS NOT NULL;
