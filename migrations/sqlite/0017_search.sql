-- Full-text search over message texts: an external-content FTS5 index (the
-- text is stored once, in messages), kept in step by triggers in the same
-- transaction as every insert, edit and deletion. unicode61 with
-- remove_diacritics 2 folds case and diacritics ("cafe" finds "café");
-- prefix indexes make the word being typed quick to match.
CREATE VIRTUAL TABLE messages_search USING fts5(
    body,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
-- A deletion removes a message's words from the index itself, not only
-- marks them deleted until a later merge (a deleted text leaves nothing).
INSERT INTO messages_search (messages_search, rank) VALUES ('secure-delete', 1);

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_search (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, body) VALUES ('delete', old.id, old.body);
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO messages_search (rowid, body) VALUES (new.id, new.body);
END;

-- The messages already there.
INSERT INTO messages_search (messages_search) VALUES ('rebuild');
