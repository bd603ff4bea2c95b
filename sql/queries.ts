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
