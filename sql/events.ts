import type { EventRecord } from "../engine/engine.js";
import { inTransaction, type Pool, type PoolClient, type Queryable } from "./db.js";
import { sql } from "./queries.js";

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

export type NewEvent = Omit<EventRecord, "version" | "powBits" | "holdSeconds"> & { powBits?: number; holdSeconds?: number };
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
export function insertEvent(pool: Pool, event: NewEvent, also?: (client: PoolClient) => Promise<void>): Promise<EventRecord> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<EventRow>(sql.insertEvent, [
      event.id, event.name, event.venue, event.startsAt, event.timeZone, event.capacity,
      event.price, event.currency, event.maxPerUser, event.saleStartsAt, event.saleEndsAt, event.status,
      event.powBits ?? 0, event.holdSeconds ?? 0,
    ]);
    await client.query(sql.startRelay, [event.id]);
    await also?.(client);
    return toRecord(rows[0]!);
  });
}

export async function selectEvent(pool: Queryable, id: string): Promise<EventRecord | null> {
  const { rows } = await pool.query<EventRow>(sql.selectEvent, [id]);
  return rows[0] ? toRecord(rows[0]) : null;
}

export async function updateEvent(pool: Queryable, id: string, changes: EventChanges): Promise<EventRecord | null> {
  const { rows } = await pool.query<EventRow>(sql.updateEvent, [
    id, changes.name ?? null, changes.venue ?? null, changes.startsAt ?? null, changes.timeZone ?? null,
    changes.capacity ?? null, changes.maxPerUser ?? null, changes.saleStartsAt ?? null,
    changes.saleEndsAt ?? null, changes.status ?? null, changes.powBits ?? null, changes.holdSeconds ?? null,
  ]);
  return rows[0] ? toRecord(rows[0]) : null;
}

export async function paidTickets(pool: Queryable, eventId: string): Promise<number> {
  const { rows } = await pool.query<{ paid: number }>(sql.paidTickets, [eventId]);
  return rows[0]!.paid;
}
