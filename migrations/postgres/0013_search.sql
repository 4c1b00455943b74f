-- Full-text search over message texts: a tsvector kept by PostgreSQL itself
-- (a generated column, so every insert, edit and deletion updates it in the
-- same statement) and a GIN index. Words are cut by the 'simple'
-- configuration (no stemming: any language) after unaccent folds diacritics
-- ("cafe" finds "café"); unaccent is a trusted extension, so the database's
-- owner may create it.
CREATE EXTENSION IF NOT EXISTS unaccent;

-- unaccent is only STABLE (its dictionary could change); a generated column
-- needs IMMUTABLE, which holds as long as the dictionary does.
CREATE FUNCTION natter_search_vector(body TEXT) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT to_tsvector('simple'::regconfig, public.unaccent('public.unaccent'::regdictionary, body)) $$;

-- Adding the column computes it for the messages already there.
ALTER TABLE messages ADD COLUMN search tsvector
    GENERATED ALWAYS AS (natter_search_vector(body)) STORED;
CREATE INDEX messages_search ON messages USING GIN (search);
