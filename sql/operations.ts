import type { KnownInDb } from "../engine/engine.js";
import type { Queryable } from "./db.js";

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
             SELECT u.external_id, sum(pb.quantity)::bigint AS paid
             FROM bookings pb JOIN users u ON u.id = pb.user_id
             WHERE pb.event_id = $1 AND pb.status = 'paid'
             GROUP BY u.external_id) p), '[]'::json) AS paid_by_user
    FROM bookings b WHERE b.event_id = $1`,
} as const;

interface KnownRow {
  paid: number;
  max_arrival_seq: number;
  max_hold_seq: number;
  relayed_up_to: string;
  paid_by_user: [string, number][];
}

export async function knownInDb(db: Queryable, eventId: string): Promise<KnownInDb> {
  const { rows } = await db.query<KnownRow>(SQL.knownInDb, [eventId]);
  const row = rows[0]!;
  return {
    paid: row.paid,
    maxArrivalSeq: row.max_arrival_seq,
    maxHoldSeq: row.max_hold_seq,
    relayedUpTo: row.relayed_up_to,
    paidByUser: row.paid_by_user.map(([user, paid]) => [user, Number(paid)]),
  };
}

export async function onSaleEventIds(db: Queryable, max: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(SQL.onSaleEvents, [max]);
  return rows.map((row) => row.id);
}
