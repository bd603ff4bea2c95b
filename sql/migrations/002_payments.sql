-- Payments: refunds, and the checkout sessions opened for holds.

-- Refunds: a payment that cannot be applied (late with no stock left, paid twice, paid
-- after its owner cancelled) is refunded through the provider by the payments.refund job.
-- The payment row is the outbox: status refund_due -> refunded (or refund_failed once the
-- job's retries are spent); the job only ever reads and advances it.
ALTER TABLE payments
  ADD COLUMN action         text NOT NULL DEFAULT 'confirm', -- what the fact asks: confirm | await | release | refund_notice
  ADD COLUMN payment_intent text,          -- the provider's charge handle, what a refund names
  ADD COLUMN refund_ref     text,          -- the provider's refund id once issued
  ADD COLUMN refund_error   text NOT NULL DEFAULT '';

CREATE INDEX payments_intent ON payments (payment_intent) WHERE payment_intent IS NOT NULL;
CREATE INDEX payments_pending ON payments (status, updated_at) WHERE status IN ('received', 'refund_due');

-- Checkout Sessions opened for holds. Stripe keeps a session open at least 30 minutes, far
-- longer than a hold; the work role expires each one once its hold is over, so nobody pays
-- for tickets that may have gone to the next person (late payments are still handled).
CREATE TABLE checkouts (
  session_id       text PRIMARY KEY,
  booking_id       uuid NOT NULL,
  event_id         uuid NOT NULL,
  hold_expires_at  timestamptz NOT NULL,
  status           text NOT NULL DEFAULT 'open',   -- open | closed
  created_at       timestamptz NOT NULL DEFAULT now(),
  closed_at        timestamptz
);
CREATE INDEX checkouts_open ON checkouts (hold_expires_at) WHERE status = 'open';
