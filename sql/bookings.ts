import type { BookingState } from "../engine/schema.js";
import type { Queryable } from "./db.js";

// Bookings as PostgreSQL keeps them: written by the relay from the event log (a booking's
// first entry inserts its row, each later one writes the fields a change can move, so applying
// an entry twice leaves the same row), each naming its person by the client's userId; read by
// the jobs and the on-sale checks.

const SQL = {
  logId: `SELECT log_id FROM bookings WHERE id = $1`,

  // A batch of one event in one statement: the rows PostgreSQL has are read (their status
  // before the batch, returned), updated with what a change can move (no indexed column, so a
  // HOT update), and the others inserted. Every part sees the table as it was before the
  // statement, so the update never touches a row the insert makes; it looks up only the rows
  // found known (an on-sale's batches are mostly new bookings). The summary row comes back even
  // when no booking was known. Times travel as epoch milliseconds.
  write: `
    WITH e AS (
      SELECT * FROM unnest($2::uuid[], $3::text[], $4::int[], $5::text[], $6::text[], $7::bigint[], $8::bigint[],
                           $9::bigint[], $10::text[], $11::bigint[], $12::text[], $13::text[], $14::bigint[],
                           $15::bigint[], $16::text[])
        AS e(id, user_ref, quantity, status, reason, arrival_seq, hold_seq, amount, currency, expires_ms,
             payment_ref, log_id, created_ms, updated_ms, email)
    ), known AS (
      SELECT id, status FROM bookings WHERE id = ANY($2::uuid[])
    ), moved AS MATERIALIZED (
      SELECT e.* FROM e JOIN known k ON k.id = e.id
    ), inserted AS (
      INSERT INTO bookings (id, event_id, user_ref, quantity, status, reason, arrival_seq, hold_seq, amount, currency,
                            expires_at, payment_ref, log_id, created_at, updated_at, email)
      SELECT e.id, $1, e.user_ref, e.quantity, e.status::booking_status, e.reason, e.arrival_seq,
             NULLIF(e.hold_seq, 0), e.amount, e.currency,
             CASE WHEN e.expires_ms > 0 THEN timestamptz 'epoch' + e.expires_ms * interval '1 ms' END,
             NULLIF(e.payment_ref, ''), e.log_id, timestamptz 'epoch' + e.created_ms * interval '1 ms',
             timestamptz 'epoch' + e.updated_ms * interval '1 ms', e.email
      FROM e WHERE NOT EXISTS (SELECT 1 FROM known k WHERE k.id = e.id)
    ), updated AS (
      UPDATE bookings b SET
        status = e.status::booking_status, reason = e.reason, hold_seq = NULLIF(e.hold_seq, 0),
        expires_at = CASE WHEN e.expires_ms > 0 THEN timestamptz 'epoch' + e.expires_ms * interval '1 ms' END,
        payment_ref = NULLIF(e.payment_ref, ''), log_id = e.log_id,
        updated_at = timestamptz 'epoch' + e.updated_ms * interval '1 ms', email = e.email
      FROM moved e
      WHERE b.id = e.id AND b.event_id = $1
      RETURNING 1
    )
    SELECT k.id, k.status, n.updated FROM (SELECT count(*)::int AS updated FROM updated) n LEFT JOIN known k ON true`,

  paidOfEvent: `SELECT id, user_ref FROM bookings WHERE event_id = $1 AND status = 'paid'`,

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
  /** The userId the client sent. */
  userRef: string[];
  quantity: number[];
  status: string[];
  reason: string[];
  arrivalSeq: number[];
  /** 0 for a booking that never held (it waited in line and was dropped). */
  holdSeq: number[];
  amount: number[];
  currency: string[];
  /** 0 when not held. */
  expiresAtMs: number[];
  /** "" when not paid. */
  paymentRef: string[];
  /** The log entry each row was written from. */
  logId: string[];
  createdAtMs: number[];
  updatedAtMs: number[];
  /** The address given with the booking ("" for none): its mails go there and nowhere else. */
  email: string[];
}

export interface PaidBooking {
  id: string;
  userId: string;
}

/**
 * A PostgreSQL array literal of numbers, joined at once: pg would quote and escape each element
 * as if it were text. A number's text has nothing to escape (one that is not a whole number is
 * refused by the column's cast).
 */
function numberArray(values: number[]): string {
  return `{${values.join(",")}}`;
}

/**
 * Writes the latest state of bookings of one event (one entry per booking): inserts those
 * PostgreSQL does not have, updates the others. Returns the status each known one had before.
 */
export async function writeBookings(
  db: Queryable,
  eventId: string,
  c: BookingColumns,
): Promise<Map<string, BookingState>> {
  const { rows } = await db.query<{ id: string | null; status: BookingState | null; updated: number }>(SQL.write, [
    eventId,
    c.id,
    c.userRef,
    numberArray(c.quantity),
    c.status,
    c.reason,
    numberArray(c.arrivalSeq),
    numberArray(c.holdSeq),
    numberArray(c.amount),
    c.currency,
    numberArray(c.expiresAtMs),
    c.paymentRef,
    c.logId,
    numberArray(c.createdAtMs),
    numberArray(c.updatedAtMs),
    c.email,
  ]);
  const known = new Map<string, BookingState>();
  for (const row of rows) if (row.id !== null) known.set(row.id, row.status!);
  // A booking of another event under this id: the entry is refused, never written over it.
  if (rows[0]!.updated !== known.size)
    throw new Error(`bookings: updated ${rows[0]!.updated} of ${known.size} known rows of the event`);
  return known;
}

/** The log entry the booking's row was last written from; null if PostgreSQL has no such booking. */
export async function bookingLogId(db: Queryable, bookingId: string): Promise<string | null> {
  const { rows } = await db.query<{ log_id: string }>(SQL.logId, [bookingId]);
  return rows[0]?.log_id ?? null;
}

export async function paidBookingsOfEvent(db: Queryable, eventId: string): Promise<PaidBooking[]> {
  const { rows } = await db.query<{ id: string; user_ref: string }>(SQL.paidOfEvent, [eventId]);
  return rows.map((row) => ({ id: row.id, userId: row.user_ref }));
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
