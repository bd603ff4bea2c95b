-- Every signed payment fact is kept, also one that names no booking of ours (a session made
-- in the provider's dashboard for something else, a payment link): its booking and event are
-- then unknown, its status 'unmatched', and the money it moved is refunded.
ALTER TABLE payments ALTER COLUMN booking_id DROP NOT NULL, ALTER COLUMN event_id DROP NOT NULL;
-- What operators list: money that found no booking, went back, or is owed back.
CREATE INDEX payments_attention ON payments (created_at)
  WHERE status IN ('unmatched', 'mismatch', 'refund_due', 'refunded', 'refund_failed', 'refund_external');
-- payments.action also takes 'expire' (a checkout closed unpaid; 'release' stays a failed
-- payment) and 'decline_notice' (a card refused: the hold stays).
