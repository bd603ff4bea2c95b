import type { BookingState } from "../engine/schema.js";
import type { Queryable } from "./db.js";

// Bookings as PostgreSQL keeps them: written by the relay from the event log (a booking's
// first entry inserts its row, each later one writes the fields a change can move, so applying
// an entry twice leaves the same row), with the people who made them; read by the jobs and the
// on-sale checks.

const SQL = {
  // New people only: a person already known is left as is (no new row version), except that
  // the first address given is kept. What the insert skips is read back by the outer SELECT,
  // whose snapshot is the one from before the insert.
  insertUsers: `
    WITH given AS (
      SELECT * FROM unnest($1::text[], $2::text[]) AS g(external_id, email)
    ), inserted AS (
      INSERT INTO users (external_id, email)
      SELECT external_id, NULLIF(email, '') FROM given
      ON CONFLICT (external_id) DO UPDATE SET email = EXCLUDED.email
        WHERE users.email IS NULL AND EXCLUDED.email IS NOT NULL
      RETURNING id, external_id
    )
    SELECT id, external_id FROM inserted
    UNION ALL
    SELECT u.id, u.external_id FROM users u JOIN given g USING (external_id)
    WHERE u.external_id NOT IN (SELECT external_id FROM inserted)`,

  // A person another transaction created after the statement above took its snapshot.
  usersByExternalId: `SELECT id, external_id FROM users WHERE external_id = ANY($1::text[])`,

  statuses: `SELECT id, status FROM bookings WHERE id = ANY($1::uuid[])`,

  logId: `SELECT log_id FROM bookings WHERE id = $1`,

  // Bookings PostgreSQL does not have yet: a plain insert (a second one would fail, not merge).
  insert: `
    INSERT INTO bookings (id, event_id, user_id, quantity, status, reason, arrival_seq, hold_seq,
                          amount, currency, expires_at, payment_ref, log_id, created_at, updated_at, email)
    SELECT b.id, $1, b.user_id, b.quantity, b.status::booking_status, b.reason, b.arrival_seq,
           NULLIF(b.hold_seq, 0), b.amount, b.currency, b.expires_at, NULLIF(b.payment_ref, ''),
           b.log_id, b.created_at, b.updated_at, b.email
    FROM unnest($2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::text[], $7::bigint[],
                $8::bigint[], $9::bigint[], $10::text[], $11::timestamptz[], $12::text[],
                $13::text[], $14::timestamptz[], $15::timestamptz[], $16::text[])
      AS b(id, user_id, quantity, status, reason, arrival_seq, hold_seq, amount, currency,
           expires_at, payment_ref, log_id, created_at, updated_at, email)`,

  // Bookings PostgreSQL has: only what a change can move (no indexed column, so a HOT update).
  update: `
    UPDATE bookings b SET
      status = c.status::booking_status, reason = c.reason, hold_seq = NULLIF(c.hold_seq, 0),
      expires_at = c.expires_at, payment_ref = NULLIF(c.payment_ref, ''), log_id = c.log_id,
      updated_at = c.updated_at, email = c.email
    FROM unnest($2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::timestamptz[], $7::text[],
                $8::text[], $9::timestamptz[], $10::text[])
      AS c(id, status, reason, hold_seq, expires_at, payment_ref, log_id, updated_at, email)
    WHERE b.id = c.id AND b.event_id = $1`,

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

/** What a later entry of a booking can change, one array per column (all of one length): no object per row. */
export interface BookingChangeColumns {
  id: string[];
  status: string[];
  reason: string[];
  /** 0 for a booking that never held (it waited in line and was dropped). */
  holdSeq: number[];
  expiresAt: (Date | null)[];
  /** "" when not paid. */
  paymentRef: string[];
  /** The log entry each row was written from. */
  logId: string[];
  updatedAt: Date[];
  /** The address given with the booking ("" for none): its mails go there and nowhere else. */
  email: string[];
}

/** Whole booking rows, as the relay inserts them. */
export interface BookingColumns extends BookingChangeColumns {
  /** The users row's id (see insertUsers), not the client's userId. */
  userId: string[];
  quantity: number[];
  arrivalSeq: number[];
  amount: number[];
  currency: string[];
  createdAt: Date[];
}

export interface PaidBooking {
  id: string;
  userId: string;
}

/**
 * Creates the users not yet known, by their external id, keeping the first address known (for
 * an operator; mails go to each booking's own address); returns external id → users.id.
 */
export async function insertUsers(db: Queryable, emailByExternalId: Map<string, string>): Promise<Map<string, string>> {
  const externalIds = [...emailByExternalId.keys()];
  const { rows } = await db.query<{ id: string; external_id: string }>(SQL.insertUsers, [
    externalIds,
    [...emailByExternalId.values()],
  ]);
  const ids = new Map(rows.map((row) => [row.external_id, row.id]));
  const missing = externalIds.filter((externalId) => !ids.has(externalId));
  if (missing.length > 0) {
    const { rows: late } = await db.query<{ id: string; external_id: string }>(SQL.usersByExternalId, [missing]);
    for (const row of late) ids.set(row.external_id, row.id);
  }
  if (ids.size !== externalIds.length)
    throw new Error(
      `users: ${externalIds.length - ids.size} of ${externalIds.length} people neither created nor found`,
    );
  return ids;
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

/** Inserts the first rows of bookings of one event, in one statement. */
export async function insertBookings(db: Queryable, eventId: string, c: BookingColumns): Promise<void> {
  await db.query(SQL.insert, [
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

/** Writes later states of bookings of one event that PostgreSQL has, in one statement. */
export async function updateBookings(db: Queryable, eventId: string, c: BookingChangeColumns): Promise<void> {
  const { rowCount } = await db.query(SQL.update, [
    eventId,
    c.id,
    c.status,
    c.reason,
    c.holdSeq,
    c.expiresAt,
    c.paymentRef,
    c.logId,
    c.updatedAt,
    c.email,
  ]);
  // A booking of another event under this id: the entry is refused, never written over it.
  if (rowCount !== c.id.length) throw new Error(`bookings: updated ${rowCount} of ${c.id.length} rows of the event`);
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
