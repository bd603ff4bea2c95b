-- The plain PostgreSQL design most teams would write instead of ours: stock is a counter on
-- the event row, a hold is a conditional UPDATE plus a bookings INSERT in one transaction.
-- Lives in its own database (schema pgdesign) so it shares nothing with the engine's tables.
CREATE SCHEMA IF NOT EXISTS pgdesign;

CREATE TABLE IF NOT EXISTS pgdesign.events (
  id        uuid PRIMARY KEY,
  capacity  integer NOT NULL CHECK (capacity >= 0),
  instock   integer NOT NULL CHECK (instock >= 0)
);

CREATE TABLE IF NOT EXISTS pgdesign.bookings (
  id          bigserial PRIMARY KEY,
  event_id    uuid NOT NULL REFERENCES pgdesign.events (id),
  user_id     text NOT NULL,
  quantity    integer NOT NULL CHECK (quantity > 0),
  status      text NOT NULL,
  expires_at  timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (event_id, user_id)
);
