import type { BookingState } from "../engine/schema.js";
import type { Queryable } from "./db.js";

// Bookings as PostgreSQL keeps them: written by the relay from the event log (whole rows,
// so applying an entry twice leaves the same row), with the people who made them; read by
// the jobs and the on-sale checks.

const SQL = {
  upsertUsers: `
    INSERT INTO users (external_id, email)
    SELECT * FROM unnest($1::text[], $2::text[])
    ON CONFLICT (external_id) DO UPDATE
      SET email = COALESCE(users.email, NULLIF(EXCLUDED.email, ''))
    RETURNING id, external_id`,

  statuses: `SELECT id, status FROM bookings WHERE id = ANY($1::uuid[])`,

  logId: `SELECT log_id FROM bookings WHERE id = $1`,

  upsert: `
    INSERT INTO bookings (id, event_id, user_id, quantity, status, reason, arrival_seq, hold_seq,
                          amount, currency, expires_at, payment_ref, log_id, created_at, updated_at, email)
    SELECT b.id, $1, b.user_id, b.quantity, b.status::booking_status, b.reason, b.arrival_seq,
           NULLIF(b.hold_seq, 0), b.amount, b.currency, b.expires_at, NULLIF(b.payment_ref, ''),
           b.log_id, b.created_at, b.updated_at, b.email
    FROM unnest($2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::text[], $7::bigint[],
                $8::bigint[], $9::bigint[], $10::text[], $11::timestamptz[], $12::text[],
                $13::text[], $14::timestamptz[], $15::timestamptz[], $16::text[])
      AS b(id, user_id, quantity, status, reason, arrival_seq, hold_seq, amount, currency,
           expires_at, payment_ref, log_id, created_at, updated_at, email)
    ON CONFLICT (id) DO UPDATE SET
      status = EXCLUDED.status, reason = EXCLUDED.reason, hold_seq = EXCLUDED.hold_seq, email = EXCLUDED.email,
      expires_at = EXCLUDED.expires_at, payment_ref = EXCLUDED.payment_ref,
      log_id = EXCLUDED.log_id, updated_at = EXCLUDED.updated_at`,

  paidOfEvent: `SELECT id, user_id FROM bookings WHERE event_id = $1 AND status = 'paid'`,

  // FCFS: ordered by when holds were granted, arrival order must never go back.
  holdOrderViolations: `
    SELECT count(*)::int AS violations FROM (
      SELECT arrival_seq, lag(arrival_seq) OVER (ORDER BY hold_seq) AS previous
      FROM bookings WHERE event_id = $1 AND hold_seq IS NOT NULL
    ) ordered
    WHERE arrival_seq < previous`,

  countsByStatus: `
    SELECT status::text, count(*)::int AS bookings, sum(quantity)::int AS tickets
    FROM bookings WHERE event_id = $1 GROUP BY status`,
} as const;

/** Booking rows as the relay writes them, one array per column (all of one length): no object per row. */
export interface BookingColumns {
  id: string[];
  /** The users row's id (see upsertUsers), not the client's userId. */
  userId: string[];
  quantity: number[];
  status: string[];
  reason: string[];
  arrivalSeq: number[];
  /** 0 for a booking that never held (it waited in line and was dropped). */
  holdSeq: number[];
  amount: number[];
  currency: string[];
  expiresAt: (Date | null)[];
  /** "" when not paid. */
  paymentRef: string[];
  /** The log entry each row was written from. */
  logId: string[];
  createdAt: Date[];
  updatedAt: Date[];
  /** The address given with the booking ("" for none): its mails go there and nowhere else. */
  email: string[];
}

export interface PaidBooking {
  id: string;
  userId: string;
}

/**
 * Creates users by their external id, keeping the first address known (for an operator; mails
 * go to each booking's own address); returns external id → users.id.
 */
export async function upsertUsers(db: Queryable, emailByExternalId: Map<string, string>): Promise<Map<string, string>> {
  const { rows } = await db.query<{ id: string; external_id: string }>(SQL.upsertUsers, [
    [...emailByExternalId.keys()],
    [...emailByExternalId.values()],
  ]);
  return new Map(rows.map((row) => [row.external_id, row.id]));
}

/** The status of each of these bookings that PostgreSQL has. */
export async function bookingStatuses(db: Queryable, bookingIds: string[]): Promise<Map<string, BookingState>> {
  const { rows } = await db.query<{ id: string; status: BookingState }>(SQL.statuses, [bookingIds]);
  return new Map(rows.map((row) => [row.id, row.status]));
}

/** The log entry the booking's row was last written from; null if PostgreSQL has no such booking. */
export async function bookingLogId(db: Queryable, bookingId: string): Promise<string | null> {
  const { rows } = await db.query<{ log_id: string }>(SQL.logId, [bookingId]);
  return rows[0]?.log_id ?? null;
}

/** Writes whole rows of one event in one statement. */
export async function upsertBookings(db: Queryable, eventId: string, c: BookingColumns): Promise<void> {
  await db.query(SQL.upsert, [
    eventId,
    c.id,
    c.userId,
    c.quantity,
    c.status,
    c.reason,
    c.arrivalSeq,
    c.holdSeq,
    c.amount,
    c.currency,
    c.expiresAt,
    c.paymentRef,
    c.logId,
    c.createdAt,
    c.updatedAt,
    c.email,
  ]);
}

export async function paidBookingsOfEvent(db: Queryable, eventId: string): Promise<PaidBooking[]> {
  const { rows } = await db.query<{ id: string; user_id: string }>(SQL.paidOfEvent, [eventId]);
  return rows.map((row) => ({ id: row.id, userId: row.user_id }));
}

/** Holds granted out of arrival order among the event's rows (0 when FCFS held). */
export async function holdOrderViolations(db: Queryable, eventId: string): Promise<number> {
  const { rows } = await db.query<{ violations: number }>(SQL.holdOrderViolations, [eventId]);
  return rows[0]!.violations;
}

/** Bookings and tickets of the event by status. */
export async function bookingCountsByStatus(
  db: Queryable,
  eventId: string,
): Promise<Record<string, { bookings: number; tickets: number }>> {
  const { rows } = await db.query<{ status: string; bookings: number; tickets: number }>(SQL.countsByStatus, [eventId]);
  return Object.fromEntries(rows.map((row) => [row.status, { bookings: row.bookings, tickets: row.tickets }]));
}
