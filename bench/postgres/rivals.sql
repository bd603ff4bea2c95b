-- The PostgreSQL rivals a competent team would build (bench/postgres/rivals.ts). Each run
-- starts from an empty schema, in its own database, so nothing is shared with the engine.
-- A request is held if the line has not started and stock is left, else it waits in line
-- (its position from rival.line) if the line has room, else it is refused: the engine's rules.
DROP SCHEMA IF EXISTS rival CASCADE;
CREATE SCHEMA rival;

CREATE TABLE rival.events (
  id           uuid PRIMARY KEY,
  capacity     integer NOT NULL CHECK (capacity >= 0),
  instock      integer NOT NULL CHECK (instock >= 0),
  line_max     integer NOT NULL CHECK (line_max >= 0),
  -- Kept by the single writer only; the other designs take positions from rival.line.
  line_length  integer NOT NULL DEFAULT 0 CHECK (line_length <= line_max)
);

-- Stock spread over rows, so holds on one event do not all wait for one row lock.
CREATE TABLE rival.stock (
  event_id  uuid NOT NULL REFERENCES rival.events (id),
  shard     integer NOT NULL,
  instock   integer NOT NULL CHECK (instock >= 0),
  PRIMARY KEY (event_id, shard)
);

-- Line positions without a row lock: a sequence is not rolled back and never blocks.
CREATE SEQUENCE rival.line;

CREATE TABLE rival.bookings (
  id          bigserial PRIMARY KEY,
  event_id    uuid NOT NULL REFERENCES rival.events (id),
  user_id     text NOT NULL,
  quantity    integer NOT NULL CHECK (quantity > 0),
  status      text NOT NULL CHECK (status IN ('held', 'waiting')),
  position    integer NOT NULL,
  expires_at  timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (event_id, user_id)
);
