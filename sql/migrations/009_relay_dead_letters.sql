-- Log entries PostgreSQL refused RELAY_MAX_ATTEMPTS times: set aside so the relay moves on,
-- kept with the error until an operator replays them (`onsale relay replay`).
-- The entry is kept as bytes (JSON of the stream fields): it may hold what text cannot (NUL).
CREATE TABLE relay_dead_letters (
  id          bigserial PRIMARY KEY,
  event_id    uuid NOT NULL REFERENCES events (id),
  stream_id   text NOT NULL,
  booking_id  text NOT NULL,                -- as logged; may not even be a UUID
  entry       bytea NOT NULL,
  error       text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  replayed_at timestamptz,                  -- written to bookings (or found superseded)
  UNIQUE (event_id, stream_id)
);
CREATE INDEX relay_dead_letters_open ON relay_dead_letters (id) WHERE replayed_at IS NULL;

-- Failed passes over the entries just past stream_id; reset whenever the offset moves.
ALTER TABLE relay_offsets
  ADD COLUMN failures   integer NOT NULL DEFAULT 0,
  ADD COLUMN last_error text;
