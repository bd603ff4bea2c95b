import type { Redis } from "ioredis";
import type { Config } from "../engine/config.js";
import { logKey } from "../engine/keys.js";
import type { Logger } from "../engine/logger.js";
import { metrics } from "../engine/metrics.js";
import type { Pool, PoolClient } from "../sql/db.js";
import { sql } from "../sql/queries.js";

// The relay copies each event's Redis log (log:{E}) into PostgreSQL. One transaction writes
// a batch of booking rows and the stream id it reached, so every entry is applied exactly
// once however often the relay crashes. Any number of relays may run: the offset row is
// locked FOR UPDATE SKIP LOCKED, so one works on an event at a time and another takes over
// as soon as it stops. Works through pgbouncer in transaction mode (no session state).

interface LogEntry {
  streamId: string;
  bookingId: string;
  userId: string;
  quantity: number;
  status: string;
  arrivalSeq: number;
  holdSeq: number;
  atMs: number;
  expiresAtMs: number;
  amount: number;
  currency: string;
  email: string;
  paymentRef: string;
  reason: string;
  createdAtMs: number;
}

function parseEntry(streamId: string, flat: string[]): LogEntry {
  const f: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
  return {
    streamId,
    bookingId: f.id!,
    userId: f.u!,
    quantity: Number(f.q),
    status: f.s!,
    arrivalSeq: Number(f.seq),
    holdSeq: Number(f.hs ?? 0),
    atMs: Number(f.at),
    expiresAtMs: Number(f.exp ?? 0),
    amount: Number(f.amt),
    currency: f.cur ?? "",
    email: f.em ?? "",
    paymentRef: f.pay ?? "",
    reason: f.why ?? "",
    createdAtMs: Number(f.c),
  };
}

export class Relay {
  constructor(
    private readonly pool: Pool,
    private readonly redis: Redis,
    private readonly config: Config,
    private readonly log: Logger,
  ) {}

  /** One pass over every active event; true when a batch was full, so more is waiting. */
  async pass(): Promise<boolean> {
    const { rows } = await this.pool.query<{ event_id: string }>(sql.relayEvents);
    let more = false;
    for (const { event_id } of rows) more = (await this.relayEvent(event_id)) === this.config.relayBatch || more;
    return more;
  }

  /** Writes the next batch of one event's log; 0 if there is none or another relay holds the event. */
  async relayEvent(eventId: string): Promise<number> {
    const client = await this.pool.connect();
    let lastId: string | null = null;
    let count = 0;
    try {
      await client.query("BEGIN");
      const locked = await client.query<{ stream_id: string }>(sql.lockRelayOffset, [eventId]);
      if (locked.rowCount === 1) {
        const from = locked.rows[0]!.stream_id;
        const raw = await this.redis.xrange(logKey(eventId), `(${from}`, "+", "COUNT", this.config.relayBatch);
        if (raw.length > 0) {
          await this.write(client, eventId, raw.map(([id, flat]) => parseEntry(id, flat)));
          lastId = raw[raw.length - 1]![0];
          count = raw.length;
          await client.query(sql.saveRelayOffset, [eventId, lastId]);
        }
      }
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    if (lastId !== null) {
      metrics.relayEntries.inc(count);
      // Entries up to the committed id are in PostgreSQL; the log keeps only what follows.
      await this.redis.xtrim(logKey(eventId), "MINID", lastId);
    }
    return count;
  }

  private async write(client: PoolClient, eventId: string, entries: LogEntry[]): Promise<void> {
    // A row per booking: its last entry in the batch is its state (the log is in order).
    const latest = new Map<string, LogEntry>();
    for (const entry of entries) latest.set(entry.bookingId, entry);
    const emails = new Map<string, string>();
    for (const entry of latest.values()) {
      if (entry.email !== "" || !emails.has(entry.userId)) emails.set(entry.userId, entry.email);
    }
    const users = await client.query<{ id: string; external_id: string }>(sql.upsertUsers, [
      [...emails.keys()],
      [...emails.values()],
    ]);
    const userIds = new Map(users.rows.map((row) => [row.external_id, row.id]));
    const rows = [...latest.values()];
    const column = <T>(pick: (entry: LogEntry) => T): T[] => rows.map(pick);
    await client.query(sql.upsertBookings, [
      eventId,
      column((e) => e.bookingId),
      column((e) => userIds.get(e.userId)!),
      column((e) => e.quantity),
      column((e) => e.status),
      column((e) => e.reason),
      column((e) => e.arrivalSeq),
      column((e) => e.holdSeq),
      column((e) => e.amount),
      column((e) => e.currency),
      column((e) => (e.expiresAtMs > 0 ? new Date(e.expiresAtMs) : null)),
      column((e) => e.paymentRef),
      column((e) => e.streamId),
      column((e) => new Date(e.createdAtMs)),
      column((e) => new Date(e.atMs)),
    ]);
  }
}
