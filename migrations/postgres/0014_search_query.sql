-- A search's words as a tsquery, folded as the index folds message texts.
-- Declared IMMUTABLE (as natter_search_vector is, on the same reasoning):
-- the planner then computes it once, from the bound words, instead of once
-- for every message a search looks at (unaccent alone is only STABLE).
CREATE FUNCTION natter_search_query(words TEXT) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT to_tsquery('simple'::regconfig, public.unaccent('public.unaccent'::regdictionary, words)) $$;
