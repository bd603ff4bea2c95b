import type { EventRecord } from "../engine/engine.js";
import { inTransaction, type Pool, type PoolClient, type Queryable } from "./db.js";

// Events: the rows operators create and change, and what other jobs read of them.

const EVENT_COLUMNS = `id, name, venue, starts_at, time_zone, capacity, price, currency,
  max_per_user, sale_starts_at, sale_ends_at, status, version, pow_bits, hold_seconds`;

const SQL = {
  insert: `
    INSERT INTO events (id, name, venue, starts_at, time_zone, capacity, price, currency,
                        max_per_user, sale_starts_at, sale_ends_at, status, pow_bits, hold_seconds)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    RETURNING ${EVENT_COLUMNS}`,

  select: `SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1`,

  // Fields passed as null keep their value, except the nullable sale window: $13 and $14 say
  // whether sale_starts_at and sale_ends_at are set (possibly to null). Every update bumps the version.
  update: `
    UPDATE events SET
      name = COALESCE($2, name), venue = COALESCE($3, venue), starts_at = COALESCE($4, starts_at),
      time_zone = COALESCE($5, time_zone), capacity = COALESCE($6, capacity),
      max_per_user = COALESCE($7, max_per_user),
      sale_starts_at = CASE WHEN $13::boolean THEN $8::timestamptz ELSE sale_starts_at END,
      sale_ends_at = CASE WHEN $14::boolean THEN $9::timestamptz ELSE sale_ends_at END,
      status = COALESCE($10, status), pow_bits = COALESCE($11, pow_bits),
      hold_seconds = COALESCE($12, hold_seconds),
      version = version + 1, updated_at = now()
    WHERE id = $1
    RETURNING ${EVENT_COLUMNS}`,

  startsAt: `SELECT starts_at FROM events WHERE id = $1`,

  paidTickets: `
    SELECT COALESCE(sum(quantity), 0)::bigint AS paid FROM bookings
    WHERE event_id = $1 AND status = 'paid'`,

  startRelay: `INSERT INTO relay_offsets (event_id) VALUES ($1) ON CONFLICT (event_id) DO NOTHING`,

  count: `SELECT count(*)::int AS n FROM events`,

  // Fresh planner statistics after a bulk insert, so the searches that follow use the indexes.
  analyze: `ANALYZE events`,
} as const;

interface EventRow {
  id: string;
  name: string;
  venue: string;
  starts_at: Date;
  time_zone: string;
  capacity: number;
  price: number;
  currency: string;
  max_per_user: number;
  sale_starts_at: Date | null;
  sale_ends_at: Date | null;
  status: "on_sale" | "closed";
  version: number;
  pow_bits: number;
  hold_seconds: number;
}

export type NewEvent = Omit<EventRecord, "version" | "powBits" | "holdSeconds"> & {
  powBits?: number;
  holdSeconds?: number;
};
/** Fields to change; absent (undefined) fields keep their value, a null sale window field is cleared. */
export type EventChanges = Partial<Omit<EventRecord, "id" | "version" | "price" | "currency">>;

function toRecord(row: EventRow): EventRecord {
  return {
    id: row.id,
    name: row.name,
    venue: row.venue,
    startsAt: row.starts_at,
    timeZone: row.time_zone,
    capacity: row.capacity,
    price: row.price,
    currency: row.currency,
    maxPerUser: row.max_per_user,
    saleStartsAt: row.sale_starts_at,
    saleEndsAt: row.sale_ends_at,
    status: row.status,
    version: row.version,
    powBits: row.pow_bits,
    holdSeconds: row.hold_seconds,
  };
}

/** Inserts the event and registers it with the relay, in one transaction; `also` runs in it too. */
export function insertEvent(
  pool: Pool,
  event: NewEvent,
  also?: (client: PoolClient) => Promise<void>,
): Promise<EventRecord> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<EventRow>(SQL.insert, [
      event.id,
      event.name,
      event.venue,
      event.startsAt,
      event.timeZone,
      event.capacity,
      event.price,
      event.currency,
      event.maxPerUser,
      event.saleStartsAt,
      event.saleEndsAt,
      event.status,
      event.powBits ?? 0,
      event.holdSeconds ?? 0,
    ]);
    await client.query(SQL.startRelay, [event.id]);
    await also?.(client);
    return toRecord(rows[0]!);
  });
}

export async function selectEvent(pool: Queryable, id: string): Promise<EventRecord | null> {
  const { rows } = await pool.query<EventRow>(SQL.select, [id]);
  return rows[0] ? toRecord(rows[0]) : null;
}

export async function updateEvent(pool: Queryable, id: string, changes: EventChanges): Promise<EventRecord | null> {
  const { rows } = await pool.query<EventRow>(SQL.update, [
    id,
    changes.name ?? null,
    changes.venue ?? null,
    changes.startsAt ?? null,
    changes.timeZone ?? null,
    changes.capacity ?? null,
    changes.maxPerUser ?? null,
    changes.saleStartsAt ?? null,
    changes.saleEndsAt ?? null,
    changes.status ?? null,
    changes.powBits ?? null,
    changes.holdSeconds ?? null,
    changes.saleStartsAt !== undefined,
    changes.saleEndsAt !== undefined,
  ]);
  return rows[0] ? toRecord(rows[0]) : null;
}

export async function paidTickets(pool: Queryable, eventId: string): Promise<number> {
  const { rows } = await pool.query<{ paid: number }>(SQL.paidTickets, [eventId]);
  return rows[0]!.paid;
}

/** When the event starts; null if there is no such event. */
export async function eventStartsAt(db: Queryable, eventId: string): Promise<Date | null> {
  const { rows } = await db.query<{ starts_at: Date }>(SQL.startsAt, [eventId]);
  return rows[0]?.starts_at ?? null;
}

export async function countEvents(db: Queryable): Promise<number> {
  return (await db.query<{ n: number }>(SQL.count)).rows[0]!.n;
}

export async function analyzeEvents(db: Queryable): Promise<void> {
  await db.query(SQL.analyze);
}
