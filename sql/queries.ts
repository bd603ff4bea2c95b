// Every SQL statement the engine runs, in one place, named for what it does.

export const EVENT_COLUMNS = `id, name, venue, starts_at, time_zone, capacity, price, currency,
  max_per_user, sale_starts_at, sale_ends_at, status, version, pow_bits, hold_seconds`;

export const sql = {
  insertEvent: `
    INSERT INTO events (id, name, venue, starts_at, time_zone, capacity, price, currency,
                        max_per_user, sale_starts_at, sale_ends_at, status, pow_bits, hold_seconds)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    RETURNING ${EVENT_COLUMNS}`,

  selectEvent: `SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1`,

  // Fields left null keep their value; every update bumps the version.
  updateEvent: `
    UPDATE events SET
      name = COALESCE($2, name), venue = COALESCE($3, venue), starts_at = COALESCE($4, starts_at),
      time_zone = COALESCE($5, time_zone), capacity = COALESCE($6, capacity),
      max_per_user = COALESCE($7, max_per_user), sale_starts_at = COALESCE($8, sale_starts_at),
      sale_ends_at = COALESCE($9, sale_ends_at), status = COALESCE($10, status),
      pow_bits = COALESCE($11, pow_bits), hold_seconds = COALESCE($12, hold_seconds),
      version = version + 1, updated_at = now()
    WHERE id = $1
    RETURNING ${EVENT_COLUMNS}`,

  paidTickets: `
    SELECT COALESCE(sum(quantity), 0)::bigint AS paid FROM bookings
    WHERE event_id = $1 AND status = 'paid'`,

  startRelay: `INSERT INTO relay_offsets (event_id) VALUES ($1) ON CONFLICT (event_id) DO NOTHING`,

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

  // Offsets read without a lock: only to find which events have log entries past them.
  relayEvents: `SELECT event_id, stream_id FROM relay_offsets WHERE active ORDER BY updated_at`,

  // One relay at a time per event: a second relay skips an event whose row is locked,
  // and takes it over as soon as the holder's transaction ends (or its connection dies).
  lockRelayOffset: `
    SELECT stream_id FROM relay_offsets WHERE event_id = $1 AND active FOR UPDATE SKIP LOCKED`,

  saveRelayOffset: `
    UPDATE relay_offsets SET stream_id = $2, updated_at = now() WHERE event_id = $1`,

  upsertUsers: `
    INSERT INTO users (external_id, email)
    SELECT * FROM unnest($1::text[], $2::text[])
    ON CONFLICT (external_id) DO UPDATE
      SET email = COALESCE(NULLIF(EXCLUDED.email, ''), users.email)
    RETURNING id, external_id`,

  // What the relay's batch changes from (issue 4's notifications queue on transitions only).
  bookingStatuses: `SELECT id, status FROM bookings WHERE id = ANY($1::uuid[])`,

  // Whole rows from the log: applying an entry twice leaves the same row.
  upsertBookings: `
    INSERT INTO bookings (id, event_id, user_id, quantity, status, reason, arrival_seq, hold_seq,
                          amount, currency, expires_at, payment_ref, log_id, created_at, updated_at)
    SELECT b.id, $1, b.user_id, b.quantity, b.status::booking_status, b.reason, b.arrival_seq,
           NULLIF(b.hold_seq, 0), b.amount, b.currency, b.expires_at, NULLIF(b.payment_ref, ''),
           b.log_id, b.created_at, b.updated_at
    FROM unnest($2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::text[], $7::bigint[],
                $8::bigint[], $9::bigint[], $10::text[], $11::timestamptz[], $12::text[],
                $13::text[], $14::timestamptz[], $15::timestamptz[])
      AS b(id, user_id, quantity, status, reason, arrival_seq, hold_seq, amount, currency,
           expires_at, payment_ref, log_id, created_at, updated_at)
    ON CONFLICT (id) DO UPDATE SET
      status = EXCLUDED.status, reason = EXCLUDED.reason, hold_seq = EXCLUDED.hold_seq,
      expires_at = EXCLUDED.expires_at, payment_ref = EXCLUDED.payment_ref,
      log_id = EXCLUDED.log_id, updated_at = EXCLUDED.updated_at`,
} as const;
