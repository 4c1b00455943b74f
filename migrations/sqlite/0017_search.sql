-- Full-text search over message texts: an external-content FTS5 index (the
-- text is stored once, in messages), kept in step by triggers in the same
-- transaction as every insert, edit and deletion. unicode61 with
-- remove_diacritics 2 folds case and diacritics ("cafe" finds "café");
-- prefix indexes (2 to 6 letters) make the word being typed quick to match
-- without merging the lists of every word it begins. The
-- conversation's id is indexed too, as a word: a search narrows to the
-- searcher's conversations inside the index instead of reading every match
-- (membership is still checked by the query itself).
CREATE VIRTUAL TABLE messages_search USING fts5(
    body,
    conversation_id,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3 4 5 6'
);
-- A deletion removes a message's words from the index itself, not only
-- marks them deleted until a later merge (a deleted text leaves nothing).
INSERT INTO messages_search (messages_search, rank) VALUES ('secure-delete', 1);

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_search (rowid, body, conversation_id)
        VALUES (new.id, new.body, new.conversation_id);
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, body, conversation_id)
        VALUES ('delete', old.id, old.body, old.conversation_id);
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, body, conversation_id)
        VALUES ('delete', old.id, old.body, old.conversation_id);
    INSERT INTO messages_search (rowid, body, conversation_id)
        VALUES (new.id, new.body, new.conversation_id);
END;

-- The messages already there.
INSERT INTO messages_search (messages_search) VALUES ('rebuild');
