import type { Queryable } from "./db.js";

// Booking emails: what a notification is about, and its claim row (one per booking and
// kind), which makes a retried job send at most once.

const SQL = {
  // The booking as it now stands in PostgreSQL, with its event and where to write: the
  // address given with this booking, never one another booking under the same userId gave.
  bookingForMail: `
    SELECT b.id AS booking_id, b.status, b.quantity, b.amount, b.currency, b.expires_at, b.reason,
           b.email AS recipient, e.id AS event_id, e.name AS event_name, e.venue,
           e.starts_at, e.time_zone
    FROM bookings b JOIN events e ON e.id = b.event_id
    WHERE b.id = $1`,

  // The claim: a new row, or a row whose last attempt the SMTP server refused. A row that is
  // sent, or sending (an attempt that died in the crash window), is never claimed again.
  claim: `
    INSERT INTO notifications (booking_id, kind, recipient, status, attempts, updated_at)
    VALUES ($1, $2, $3, 'sending', 1, now())
    ON CONFLICT (booking_id, kind) DO UPDATE
      SET status = 'sending', recipient = EXCLUDED.recipient, attempts = notifications.attempts + 1,
          error = '', updated_at = now()
      WHERE notifications.status = 'failed'
    RETURNING id`,

  markSent: `
    UPDATE notifications SET status = 'sent', sent_at = now(), message_id = $3, updated_at = now()
    WHERE booking_id = $1 AND kind = $2 AND status = 'sending'`,

  markFailed: `
    UPDATE notifications SET status = 'failed', error = $3, updated_at = now()
    WHERE booking_id = $1 AND kind = $2 AND status = 'sending'`,

  // Not sent, and never to be: the booking moved on, or nobody to write to. Recorded so an
  // operator sees why; never overwrites a sent row.
  markSkipped: `
    INSERT INTO notifications (booking_id, kind, recipient, status, error, updated_at)
    VALUES ($1, $2, $3, 'skipped', $4, now())
    ON CONFLICT (booking_id, kind) DO UPDATE SET status = 'skipped', error = EXCLUDED.error, updated_at = now()
      WHERE notifications.status IN ('failed')`,

  // Retries spent: the row stays failed with the reason, for an operator.
  markGivenUp: `
    UPDATE notifications SET status = 'given_up', error = $3, updated_at = now()
    WHERE booking_id = $1 AND kind = $2 AND status IN ('failed', 'sending')`,
} as const;

interface MailRow {
  booking_id: string;
  status: string;
  quantity: number;
  amount: number;
  currency: string;
  expires_at: Date | null;
  reason: string;
  recipient: string;
  event_id: string;
  event_name: string;
  venue: string;
  starts_at: Date;
  time_zone: string;
}

/** What an email about a booking says, as PostgreSQL has it. */
export interface MailBooking {
  bookingId: string;
  status: string;
  quantity: number;
  amount: number;
  currency: string;
  expiresAt: Date | null;
  reason: string;
  /** "" when the person gave no email address. */
  recipient: string;
  eventId: string;
  eventName: string;
  venue: string;
  startsAt: Date;
  timeZone: string;
}

function toMailBooking(row: MailRow): MailBooking {
  return {
    bookingId: row.booking_id,
    status: row.status,
    quantity: row.quantity,
    amount: row.amount,
    currency: row.currency,
    expiresAt: row.expires_at,
    reason: row.reason,
    recipient: row.recipient,
    eventId: row.event_id,
    eventName: row.event_name,
    venue: row.venue,
    startsAt: row.starts_at,
    timeZone: row.time_zone,
  };
}

/** The booking with its event and recipient; null if the relay has not written it. */
export async function mailBooking(db: Queryable, bookingId: string): Promise<MailBooking | null> {
  const { rows } = await db.query<MailRow>(SQL.bookingForMail, [bookingId]);
  return rows[0] ? toMailBooking(rows[0]) : null;
}

/** Claims the notification for sending; false if it is sent, being sent, or skipped. */
export async function claimNotification(
  db: Queryable,
  bookingId: string,
  kind: string,
  recipient: string,
): Promise<boolean> {
  return ((await db.query(SQL.claim, [bookingId, kind, recipient])).rowCount ?? 0) > 0;
}

export async function markNotificationSent(
  db: Queryable,
  bookingId: string,
  kind: string,
  messageId: string,
): Promise<void> {
  await db.query(SQL.markSent, [bookingId, kind, messageId]);
}

export async function markNotificationFailed(
  db: Queryable,
  bookingId: string,
  kind: string,
  error: string,
): Promise<void> {
  await db.query(SQL.markFailed, [bookingId, kind, error]);
}

export async function markNotificationSkipped(
  db: Queryable,
  bookingId: string,
  kind: string,
  recipient: string,
  why: string,
): Promise<void> {
  await db.query(SQL.markSkipped, [bookingId, kind, recipient, why]);
}

export async function markNotificationGivenUp(
  db: Queryable,
  bookingId: string,
  kind: string,
  why: string,
): Promise<void> {
  await db.query(SQL.markGivenUp, [bookingId, kind, why]);
}
