-- Core model: users, events, bookings, payments, notifications; UUIDv7 keys.

-- UUIDv7 (RFC 9562) for rows created in SQL; the engine makes its own ids in Node.
CREATE OR REPLACE FUNCTION uuid_generate_v7() RETURNS uuid
LANGUAGE sql VOLATILE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1), 'hex')::uuid
$$;

CREATE TABLE users (
  id          uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  external_id text NOT NULL UNIQUE,          -- the userId clients send
  email       text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
  id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  name           text NOT NULL,
  venue          text NOT NULL,
  starts_at      timestamptz NOT NULL,
  time_zone      text NOT NULL,
  capacity       integer NOT NULL CHECK (capacity >= 0),
  price          bigint NOT NULL CHECK (price >= 0),     -- minor units
  currency       char(3) NOT NULL,
  max_per_user   integer NOT NULL CHECK (max_per_user >= 1),
  sale_starts_at timestamptz,
  sale_ends_at   timestamptz,
  status         text NOT NULL DEFAULT 'on_sale' CHECK (status IN ('on_sale', 'closed')),
  version        integer NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TYPE booking_status AS ENUM ('waiting', 'held', 'paid', 'expired', 'cancelled', 'refunded');

-- One row per booking, upserted by the relay from the event's Redis log.
CREATE TABLE bookings (
  id            uuid PRIMARY KEY,
  event_id      uuid NOT NULL REFERENCES events (id),
  user_id       uuid NOT NULL REFERENCES users (id),
  quantity      integer NOT NULL CHECK (quantity > 0),
  status        booking_status NOT NULL,
  reason        text NOT NULL DEFAULT '',
  arrival_seq   bigint NOT NULL,          -- FCFS order within the event
  hold_seq      bigint,                   -- order in which holds were granted; follows arrival_seq
  amount        bigint NOT NULL,
  currency      char(3) NOT NULL,
  expires_at    timestamptz,
  payment_ref   text,
  log_id        text NOT NULL,            -- the Redis stream id of the last change applied
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  UNIQUE (event_id, arrival_seq)
);
CREATE INDEX bookings_event_status ON bookings (event_id, status);
CREATE INDEX bookings_user ON bookings (user_id);

-- Payment facts from the gateway's webhooks, written before the webhook is answered 2xx.
-- No foreign key to bookings: a payment can arrive before the relay has written its booking.
CREATE TABLE payments (
  id                uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  booking_id        uuid NOT NULL,
  event_id          uuid NOT NULL,
  provider          text NOT NULL,
  provider_event_id text NOT NULL UNIQUE,
  provider_ref      text NOT NULL,        -- checkout session id
  kind              text NOT NULL,        -- the webhook's event type
  amount            bigint NOT NULL,
  currency          char(3) NOT NULL,
  status            text NOT NULL,        -- received | applied | late_applied | refund_due | mismatch | released | duplicate
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_booking ON payments (booking_id);

CREATE TABLE notifications (
  id          uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  booking_id  uuid NOT NULL,
  kind        text NOT NULL,
  recipient   text NOT NULL,
  status      text NOT NULL,
  sent_at     timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (booking_id, kind)
);

-- How far the relay has written each event's Redis log; updated in the same transaction
-- as the rows it wrote, so each log entry is applied exactly once.
CREATE TABLE relay_offsets (
  event_id   uuid PRIMARY KEY REFERENCES events (id),
  stream_id  text NOT NULL DEFAULT '0-0',
  active     boolean NOT NULL DEFAULT true,
  updated_at timestamptz NOT NULL DEFAULT now()
);
