import type { Queryable } from "./db.js";

// Payment facts, their refunds, and the checkouts opened for holds. A payments row is one
// webhook fact, keyed by (provider, provider_event_id); for refunds it is also the outbox:
// refund_due -> refunded (or refund_failed once the job's retries are spent).

/** What a stored fact asks of the engine: release is for a failed payment, expire for a closed checkout. */
export type PaymentAction = "confirm" | "await" | "release" | "expire" | "decline_notice" | "refund_notice";

const paymentSql = {
  // Written before the webhook is answered 2xx; a redelivered event inserts nothing.
  record: `
    INSERT INTO payments (booking_id, event_id, provider, provider_event_id, provider_ref, kind,
                          action, payment_intent, amount, currency, status)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'received')
    ON CONFLICT (provider, provider_event_id) DO NOTHING`,

  // Copies of one event delivered at once queue here: one applies it, the others then find
  // it applied. A holder that dies releases the lock with its connection.
  lock: `
    SELECT id, booking_id, event_id, provider, provider_event_id, provider_ref, kind, action,
           payment_intent, amount, currency, status
    FROM payments WHERE provider = $1 AND provider_event_id = $2
    FOR UPDATE`,

  // Only a fact not yet applied gets its outcome: a redelivered event keeps its first one.
  settle: `
    UPDATE payments SET status = $2, updated_at = now()
    WHERE id = $1 AND status = 'received'`,

  // Facts recorded but never applied (the process died in between, the gateway gave up).
  staleReceived: `
    SELECT provider, provider_event_id FROM payments
    WHERE status = 'received' AND updated_at < now() - make_interval(secs => $1 / 1000.0)
    ORDER BY updated_at
    LIMIT $2`,

  // The event of a booking named without it: relayed, checked out, or paid for before.
  eventOfBooking: `
    SELECT event_id FROM bookings WHERE id = $1
    UNION ALL SELECT event_id FROM checkouts WHERE booking_id = $1
    UNION ALL SELECT event_id FROM payments WHERE booking_id = $1 AND event_id IS NOT NULL
    LIMIT 1`,

  setEvent: `UPDATE payments SET event_id = $2 WHERE id = $1`,

  // Applied, then lost with Redis and not restorable: due for the repair pass at once, which
  // applies it again (and, finding no booking to give it, refunds it).
  reopen: `
    UPDATE payments SET status = 'received', updated_at = 'epoch'
    WHERE event_id = $1 AND booking_id = ANY($2::uuid[]) AND status IN ('applied', 'late_applied')`,

  // Owed: refund_due, or a mismatch or an unmatched payment (kept as its status, so an
  // operator sees why) that took money and is not yet refunded.
  toRefund: `
    SELECT id, booking_id, provider_ref, payment_intent, amount, currency,
           (status = 'refund_due' OR (status IN ('mismatch', 'unmatched') AND action = 'confirm' AND refund_ref IS NULL)) AS owed
    FROM payments WHERE id = $1`,

  setPaymentRef: `UPDATE payments SET payment_intent = $2 WHERE id = $1`,

  markRefunded: `
    UPDATE payments SET status = CASE WHEN status = 'refund_due' THEN 'refunded' ELSE status END,
                        refund_ref = $2, refund_error = '', updated_at = now()
    WHERE id = $1 AND (status = 'refund_due' OR (status IN ('mismatch', 'unmatched') AND refund_ref IS NULL))`,

  markRefundFailed: `
    UPDATE payments SET status = CASE WHEN status = 'refund_due' THEN 'refund_failed' ELSE status END,
                        refund_error = $2, updated_at = now()
    WHERE id = $1 AND (status = 'refund_due' OR (status IN ('mismatch', 'unmatched') AND refund_ref IS NULL))`,

  // A refund the provider reports: ours (we owe or issued it; its notice may land before the
  // job records the refund) or made elsewhere (the dashboard).
  refundIssuedFor: `
    SELECT 1 FROM payments
    WHERE payment_intent = $1
      AND (status IN ('refund_due', 'refunded', 'mismatch') OR (status = 'unmatched' AND action = 'confirm'))
    LIMIT 1`,

  // A payment whose booking hash has aged out of Redis: was it the payment that paid it?
  bookingPaidBy: `SELECT 1 FROM bookings WHERE id = $1 AND status = 'paid' AND payment_ref = $2`,

  // A card refused for the booking: its page offers to try again while the hold lasts.
  declinedFor: `SELECT 1 FROM payments WHERE booking_id = $1 AND status = 'declined' LIMIT 1`,

  // The literal list lets the planner use payments_attention; $1 narrows it.
  forOperators: `
    SELECT id, provider, provider_event_id, kind, status, booking_id, event_id, amount, currency,
           refund_ref, refund_error, created_at
    FROM payments
    WHERE status IN ('unmatched', 'mismatch', 'refund_due', 'refunded', 'refund_failed', 'refund_external')
      AND status = ANY($1::text[])
    ORDER BY created_at DESC
    LIMIT $2`,

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

/** A payment fact as written, before the engine has applied it. */
export interface NewPayment {
  bookingId: string | null;
  eventId: string | null;
  provider: string;
  providerEventId: string;
  /** The checkout, or the charge for facts about a charge. */
  checkoutRef: string;
  /** The provider's name for the event. */
  type: string;
  action: PaymentAction;
  paymentRef: string | null;
  amountMinor: number;
  currency: string;
}

export interface StoredPayment extends NewPayment {
  id: string;
  status: string;
}

interface PaymentRow {
  id: string;
  booking_id: string | null;
  event_id: string | null;
  provider: string;
  provider_event_id: string;
  provider_ref: string;
  kind: string;
  action: PaymentAction;
  payment_intent: string | null;
  amount: number;
  currency: string;
  status: string;
}

const paymentOfRow = (row: PaymentRow): StoredPayment => ({
  id: row.id,
  bookingId: row.booking_id,
  eventId: row.event_id,
  provider: row.provider,
  providerEventId: row.provider_event_id,
  checkoutRef: row.provider_ref,
  type: row.kind,
  action: row.action,
  paymentRef: row.payment_intent,
  amountMinor: row.amount,
  currency: row.currency,
  status: row.status,
});

export async function recordPayment(db: Queryable, payment: NewPayment): Promise<void> {
  await db.query(paymentSql.record, [
    payment.bookingId,
    payment.eventId,
    payment.provider,
    payment.providerEventId,
    payment.checkoutRef,
    payment.type,
    payment.action,
    payment.paymentRef,
    payment.amountMinor,
    payment.currency.toLowerCase(),
  ]);
}

/** The fact under its row lock, for the rest of the transaction; null if there is none. */
export async function lockPayment(
  db: Queryable,
  provider: string,
  providerEventId: string,
): Promise<StoredPayment | null> {
  const { rows } = await db.query<PaymentRow>(paymentSql.lock, [provider, providerEventId]);
  return rows[0] === undefined ? null : paymentOfRow(rows[0]);
}

export async function settlePayment(db: Queryable, id: string, status: string): Promise<void> {
  await db.query(paymentSql.settle, [id, status]);
}

export async function staleReceivedPayments(
  db: Queryable,
  olderThanMs: number,
  max: number,
): Promise<{ provider: string; providerEventId: string }[]> {
  const { rows } = await db.query<{ provider: string; provider_event_id: string }>(paymentSql.staleReceived, [
    olderThanMs,
    max,
  ]);
  return rows.map((row) => ({ provider: row.provider, providerEventId: row.provider_event_id }));
}

export interface PaymentToRefund {
  id: string;
  bookingId: string | null;
  checkoutRef: string;
  paymentRef: string | null;
  amountMinor: number;
  currency: string;
  /** Still owed: not refunded yet, and not a payment the engine applied. */
  owed: boolean;
}

export async function paymentToRefund(db: Queryable, id: string): Promise<PaymentToRefund | null> {
  const { rows } = await db.query<{
    id: string;
    booking_id: string | null;
    provider_ref: string;
    payment_intent: string | null;
    amount: number;
    currency: string;
    owed: boolean;
  }>(paymentSql.toRefund, [id]);
  const row = rows[0];
  if (row === undefined) return null;
  return {
    id: row.id,
    bookingId: row.booking_id,
    checkoutRef: row.provider_ref,
    paymentRef: row.payment_intent,
    amountMinor: row.amount,
    currency: row.currency,
    owed: row.owed,
  };
}

export async function eventOfBooking(db: Queryable, bookingId: string): Promise<string | null> {
  const { rows } = await db.query<{ event_id: string }>(paymentSql.eventOfBooking, [bookingId]);
  return rows[0]?.event_id ?? null;
}

export async function setPaymentEvent(db: Queryable, id: string, eventId: string): Promise<void> {
  await db.query(paymentSql.setEvent, [id, eventId]);
}

export async function reopenPayments(db: Queryable, eventId: string, bookingIds: string[]): Promise<void> {
  await db.query(paymentSql.reopen, [eventId, bookingIds]);
}

export async function setPaymentRef(db: Queryable, id: string, paymentRef: string): Promise<void> {
  await db.query(paymentSql.setPaymentRef, [id, paymentRef]);
}

export async function markRefunded(db: Queryable, id: string, refundRef: string): Promise<void> {
  await db.query(paymentSql.markRefunded, [id, refundRef]);
}

export async function markRefundFailed(db: Queryable, id: string, error: string): Promise<void> {
  await db.query(paymentSql.markRefundFailed, [id, error]);
}

export async function refundIssuedFor(db: Queryable, paymentRef: string | null): Promise<boolean> {
  return (await db.query(paymentSql.refundIssuedFor, [paymentRef])).rowCount !== 0;
}

export async function bookingPaidBy(db: Queryable, bookingId: string, checkoutRef: string): Promise<boolean> {
  return (await db.query(paymentSql.bookingPaidBy, [bookingId, checkoutRef])).rowCount !== 0;
}

export async function wasDeclined(db: Queryable, bookingId: string): Promise<boolean> {
  return (await db.query(paymentSql.declinedFor, [bookingId])).rowCount !== 0;
}

/** Statuses an operator lists: money that found no booking, went back, or is owed back. */
export const OPERATOR_PAYMENT_STATUSES = [
  "unmatched",
  "mismatch",
  "refund_due",
  "refunded",
  "refund_failed",
  "refund_external",
] as const;
/** Most payments one listing returns. */
export const OPERATOR_PAYMENTS_MAX = 1000;

/** The statuses a comma-separated list names; every operator status when empty; null if it names another. */
export function operatorStatuses(text: string | null): string[] | null {
  if (text === null || text === "") return [...OPERATOR_PAYMENT_STATUSES];
  const named = text.split(",");
  return named.every((status) => (OPERATOR_PAYMENT_STATUSES as readonly string[]).includes(status)) ? named : null;
}

export interface OperatorPayment {
  id: string;
  provider: string;
  providerEventId: string;
  type: string;
  status: string;
  bookingId: string | null;
  eventId: string | null;
  amountMinor: number;
  currency: string;
  refundRef: string | null;
  refundError: string;
  createdAt: Date;
}

export async function paymentsForOperators(
  db: Queryable,
  statuses: string[],
  limit: number,
): Promise<OperatorPayment[]> {
  const { rows } = await db.query<{
    id: string;
    provider: string;
    provider_event_id: string;
    kind: string;
    status: string;
    booking_id: string | null;
    event_id: string | null;
    amount: number;
    currency: string;
    refund_ref: string | null;
    refund_error: string;
    created_at: Date;
  }>(paymentSql.forOperators, [statuses, limit]);
  return rows.map((row) => ({
    id: row.id,
    provider: row.provider,
    providerEventId: row.provider_event_id,
    type: row.kind,
    status: row.status,
    bookingId: row.booking_id,
    eventId: row.event_id,
    amountMinor: row.amount,
    currency: row.currency.trim(),
    refundRef: row.refund_ref,
    refundError: row.refund_error,
    createdAt: row.created_at,
  }));
}

export async function recordCheckout(
  db: Queryable,
  checkout: { id: string; bookingId: string; eventId: string; holdExpiresAtMs: number },
): Promise<void> {
  await db.query(paymentSql.recordCheckout, [
    checkout.id,
    checkout.bookingId,
    checkout.eventId,
    new Date(checkout.holdExpiresAtMs),
  ]);
}

export async function checkoutsToClose(db: Queryable, graceMs: number, max: number): Promise<string[]> {
  const { rows } = await db.query<{ session_id: string }>(paymentSql.checkoutsToClose, [graceMs, max]);
  return rows.map((row) => row.session_id);
}

export async function closeCheckout(db: Queryable, checkoutRef: string): Promise<void> {
  await db.query(paymentSql.closeCheckout, [checkoutRef]);
}
