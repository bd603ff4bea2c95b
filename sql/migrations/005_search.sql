-- Search over events: full-text on unaccented name and venue with the 'simple'
-- configuration (no stemming, so every language is treated alike), trigram similarity for
-- typos, and each event's calendar date in its own time zone for date filters.
-- pg_trgm and unaccent are trusted extensions (PostgreSQL 13+): the database owner may create them.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public;

-- unaccent() is only STABLE (its dictionary could be swapped); naming the dictionary makes
-- the result fixed, which generated columns and index expressions require.
CREATE FUNCTION search_fold(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, value)) $$;

ALTER TABLE events
  ADD COLUMN search_name  text GENERATED ALWAYS AS (search_fold(name)) STORED,
  ADD COLUMN search_venue text GENERATED ALWAYS AS (search_fold(venue)) STORED,
  ADD COLUMN search_doc   tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', search_fold(name)), 'A') || setweight(to_tsvector('simple', search_fold(venue)), 'B')
  ) STORED,
  -- The date on the wall calendar where the event happens: what start_date/end_date compare to.
  ADD COLUMN local_date   date GENERATED ALWAYS AS ((starts_at AT TIME ZONE time_zone)::date) STORED;

CREATE INDEX events_search_doc ON events USING gin (search_doc);
CREATE INDEX events_search_trgm ON events USING gin ((search_name || ' ' || search_venue) gin_trgm_ops);
CREATE INDEX events_local_date ON events (local_date, starts_at, id);
CREATE INDEX events_starts_at ON events (starts_at, id);
