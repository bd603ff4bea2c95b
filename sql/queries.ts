// Payments, refunds and checkout sessions.

export const sql = {
  // Written before the webhook is answered 2xx; a redelivered event inserts nothing.
  recordPayment: `
    INSERT INTO payments (booking_id, event_id, provider, provider_event_id, provider_ref, kind,
                          action, payment_intent, amount, currency, status)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'received')
    ON CONFLICT (provider_event_id) DO NOTHING`,

  // Copies of one event delivered at once queue here: one applies it, the others then find
  // it applied. A holder that dies releases the lock with its connection.
  lockPayment: `
    SELECT id, booking_id, event_id, provider_event_id, provider_ref, kind, action,
           payment_intent, amount, currency, status
    FROM payments WHERE provider_event_id = $1
    FOR UPDATE`,

  // Only a fact not yet applied gets its outcome: a redelivered event keeps its first one.
  settlePayment: `
    UPDATE payments SET status = $2, updated_at = now()
    WHERE id = $1 AND status = 'received'
    RETURNING id`,

  // Facts recorded but never applied (the process died in between, the gateway gave up).
  staleReceivedPayments: `
    SELECT provider_event_id FROM payments
    WHERE status = 'received' AND updated_at < now() - make_interval(secs => $1 / 1000.0)
    ORDER BY updated_at
    LIMIT $2`,

  // Owed: refund_due, or a mismatch (kept as its status, so an operator sees why) not yet refunded.
  paymentToRefund: `
    SELECT id, booking_id, provider_ref, payment_intent, amount,
           (status = 'refund_due' OR (status = 'mismatch' AND refund_ref IS NULL)) AS owed
    FROM payments WHERE id = $1`,

  setPaymentIntent: `UPDATE payments SET payment_intent = $2 WHERE id = $1`,

  markRefunded: `
    UPDATE payments SET status = CASE WHEN status = 'mismatch' THEN status ELSE 'refunded' END,
                        refund_ref = $2, refund_error = '', updated_at = now()
    WHERE id = $1 AND (status = 'refund_due' OR (status = 'mismatch' AND refund_ref IS NULL))`,

  markRefundFailed: `
    UPDATE payments SET status = CASE WHEN status = 'mismatch' THEN status ELSE 'refund_failed' END,
                        refund_error = $2, updated_at = now()
    WHERE id = $1 AND (status = 'refund_due' OR (status = 'mismatch' AND refund_ref IS NULL))`,

  // A refund the provider reports: ours (we owe or issued it; its notice may land before the
  // job records the refund) or made elsewhere (the dashboard).
  refundIssuedFor: `
    SELECT 1 FROM payments WHERE payment_intent = $1 AND status IN ('refund_due', 'refunded', 'mismatch') LIMIT 1`,

  // A payment whose booking hash has aged out of Redis: was it the payment that paid it?
  bookingPaidBy: `
    SELECT 1 FROM bookings WHERE id = $1 AND status = 'paid' AND payment_ref = $2`,

  recordCheckout: `
    INSERT INTO checkouts (session_id, booking_id, event_id, hold_expires_at)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (session_id) DO NOTHING`,

  // Sessions whose hold ended more than $1 ms ago; locked so one worker closes each.
  checkoutsToClose: `
    SELECT session_id FROM checkouts
    WHERE status = 'open' AND hold_expires_at < now() - make_interval(secs => $1 / 1000.0)
    ORDER BY hold_expires_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED`,

  closeCheckout: `UPDATE checkouts SET status = 'closed', closed_at = now() WHERE session_id = $1`,
} as const;
