import type { KnownInDb } from "../engine/engine.js";
import type { Pool, Queryable } from "./db.js";

// The operator commands' reads: cache warm (which events belong in Redis) and reconcile
// (what PostgreSQL knows of an event, to compare with Redis).

const SQL = {
  // Events whose inventory belongs in Redis: on sale and not past their sale window.
  onSaleEvents: `
    SELECT id FROM events
    WHERE status = 'on_sale' AND (sale_ends_at IS NULL OR sale_ends_at > now())
    ORDER BY starts_at, id
    LIMIT $1`,

  // One snapshot: the counts and the relay offset they are consistent with.
  knownInDb: `
    SELECT COALESCE(sum(b.quantity) FILTER (WHERE b.status = 'paid'), 0)::bigint AS paid,
           COALESCE(max(b.arrival_seq), 0)::bigint AS max_arrival_seq,
           COALESCE(max(b.hold_seq), 0)::bigint AS max_hold_seq,
           COALESCE((SELECT stream_id FROM relay_offsets WHERE event_id = $1), '0-0') AS relayed_up_to,
           COALESCE((SELECT json_agg(json_build_array(p.external_id, p.paid)) FROM (
             SELECT pb.user_ref AS external_id, sum(pb.quantity)::bigint AS paid
             FROM bookings pb
             WHERE pb.event_id = $1 AND pb.status = 'paid'
             GROUP BY pb.user_ref) p), '[]'::json) AS paid_by_user
    FROM bookings b WHERE b.event_id = $1`,

  // Paid bookings whose paid state Redis may lack: one an applied payment fact names that the
  // relay had not written paid (a booking it never wrote at all comes without its person), and,
  // when Redis has a log ($2, its newest entry), one PostgreSQL has as paid whose last change
  // is past that entry (a failover to a replica that missed it). Oldest first, so earlier
  // payers get stock first.
  paidToRestore: `
    SELECT * FROM (
      SELECT b.id AS booking_id, b.payment_ref, b.amount, b.currency, true AS relayed, b.user_ref AS user_id,
             b.email, b.quantity, b.arrival_seq, COALESCE(b.hold_seq, 0) AS hold_seq,
             (extract(epoch FROM b.created_at) * 1000)::bigint AS created_ms, b.updated_at AS at
      FROM bookings b
      WHERE b.event_id = $1 AND b.status = 'paid' AND $2::text IS NOT NULL
        AND (split_part(b.log_id, '-', 1)::bigint, split_part(b.log_id, '-', 2)::bigint)
          > (split_part($2, '-', 1)::bigint, split_part($2, '-', 2)::bigint)
      UNION ALL
      SELECT p.booking_id, p.provider_ref, p.amount, p.currency, false, COALESCE(b.user_ref, ''),
             COALESCE(b.email, ''), COALESCE(b.quantity, 0), COALESCE(b.arrival_seq, 0), COALESCE(b.hold_seq, 0),
             COALESCE((extract(epoch FROM b.created_at) * 1000)::bigint, 0), p.created_at
      FROM payments p
      LEFT JOIN bookings b ON b.id = p.booking_id
      WHERE p.event_id = $1 AND p.status IN ('applied', 'late_applied') AND b.status IS DISTINCT FROM 'paid'
    ) restore
    ORDER BY at
    LIMIT $3`,
} as const;

/** Most paid bookings one recovery restores; a second run takes the rest. */
const RESTORE_MAX = 10_000;

interface KnownRow {
  paid: number;
  max_arrival_seq: number;
  max_hold_seq: number;
  relayed_up_to: string;
  paid_by_user: [string, number][];
}

interface RestoreRow {
  booking_id: string;
  payment_ref: string;
  amount: number;
  currency: string;
  relayed: boolean;
  user_id: string;
  email: string;
  quantity: number;
  arrival_seq: number;
  hold_seq: number;
  created_ms: number;
}

/**
 * What PostgreSQL knows of an event, read in one snapshot so the counts, the relay offset
 * and the payments agree. `lastLogId` is the newest entry of the event's log in Redis (null
 * when Redis has none).
 */
export async function knownInDb(pool: Pool, eventId: string, lastLogId: string | null): Promise<KnownInDb> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const row = (await client.query<KnownRow>(SQL.knownInDb, [eventId])).rows[0]!;
    const { rows } = await client.query<RestoreRow>(SQL.paidToRestore, [eventId, lastLogId, RESTORE_MAX]);
    return {
      paid: row.paid,
      maxArrivalSeq: row.max_arrival_seq,
      maxHoldSeq: row.max_hold_seq,
      relayedUpTo: row.relayed_up_to,
      paidByUser: row.paid_by_user.map(([user, paid]) => [user, Number(paid)]),
      restore: rows.map((r) => ({
        bookingId: r.booking_id,
        relayed: r.relayed,
        userId: r.user_id,
        quantity: r.quantity,
        amount: r.amount,
        currency: r.currency.trim(),
        paymentRef: r.payment_ref,
        arrivalSeq: r.arrival_seq,
        holdSeq: r.hold_seq,
        email: r.email,
        createdMs: r.created_ms,
      })),
    };
  } finally {
    // Read only: ending it either way changes nothing.
    await client.query("ROLLBACK").catch(() => undefined);
    client.release();
  }
}

export async function onSaleEventIds(db: Queryable, max: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(SQL.onSaleEvents, [max]);
  return rows.map((row) => row.id);
}
