import type { RedisClient } from "../engine/redis.js";
import { compareStreamIds, decodeLogEntry, lastLogId, type LogEntry } from "../engine/eventLog.js";
import type { Config } from "../engine/config.js";
import { logKey } from "../engine/keys.js";
import type { BookingState } from "../engine/schema.js";
import { metrics } from "../engine/metrics.js";
import { inTransaction, type Pool, type PoolClient } from "../sql/db.js";
import { sql } from "../sql/queries.js";

// The relay copies each event's Redis log (log:{E}) into PostgreSQL. One transaction writes
// a batch of booking rows and the stream id it reached, so every entry is applied exactly
// once however often the relay crashes. Any number of relays may run: the offset row is
// locked FOR UPDATE SKIP LOCKED, so one works on an event at a time and another takes over
// as soon as it stops. Works through pgbouncer in transaction mode (no session state).

/** A booking's state moving from what PostgreSQL had (null: new) to a log entry's. */
export interface StateChange {
  bookingId: string;
  from: BookingState | null;
  to: BookingState;
}

/** Runs in the relay's transaction with each batch: queues the side effects its changes call for. */
export type OnChanges = (client: PoolClient, eventId: string, changes: StateChange[]) => Promise<unknown>;

export class Relay {
  constructor(
    private readonly pool: Pool,
    private readonly redis: RedisClient,
    private readonly config: Config,
    private readonly onChanges: OnChanges | null = null,
  ) {}

  /** One pass over every active event with new entries; true when a batch was full, so more is waiting. */
  async pass(): Promise<boolean> {
    const { rows } = await this.pool.query<{ event_id: string; stream_id: string }>(sql.relayEvents);
    // Most events are idle: one auto-pipelined look at each log's newest id, and a transaction
    // only for the events that have something past their offset.
    const newest = await Promise.all(rows.map(({ event_id }) => lastLogId(this.redis, event_id)));
    let more = false;
    for (const [index, { event_id, stream_id }] of rows.entries()) {
      const last = newest[index]!;
      if (last === null || compareStreamIds(last, stream_id) <= 0) continue;
      more = (await this.relayEvent(event_id)) === this.config.relayBatch || more;
    }
    return more;
  }

  /** Writes the next batch of one event's log; 0 if there is none or another relay holds the event. */
  async relayEvent(eventId: string): Promise<number> {
    const { lastId, count } = await inTransaction(this.pool, async (client) => {
      const locked = await client.query<{ stream_id: string }>(sql.lockRelayOffset, [eventId]);
      if (locked.rowCount !== 1) return { lastId: null, count: 0 };
      const from = locked.rows[0]!.stream_id;
      const raw = await this.redis.xrange(logKey(eventId), `(${from}`, "+", "COUNT", this.config.relayBatch);
      if (raw.length === 0) return { lastId: null, count: 0 };
      await this.write(client, eventId, raw.map(([id, flat]) => decodeLogEntry(id, flat)));
      const last = raw[raw.length - 1]![0];
      await client.query(sql.saveRelayOffset, [eventId, last]);
      return { lastId: last, count: raw.length };
    });
    if (lastId !== null) {
      metrics.relayEntries.inc(count);
      // Entries up to the committed id are in PostgreSQL; the log keeps only what follows.
      await this.redis.xtrim(logKey(eventId), "MINID", lastId);
    }
    return count;
  }

  /** Every state transition in the batch, in log order, starting from the rows as committed. */
  private async changes(client: PoolClient, entries: LogEntry[], bookingIds: string[]): Promise<StateChange[]> {
    const { rows } = await client.query<{ id: string; status: BookingState }>(sql.bookingStatuses, [bookingIds]);
    const state = new Map<string, BookingState | null>(rows.map((row) => [row.id, row.status]));
    const changes: StateChange[] = [];
    for (const entry of entries) {
      const from = state.get(entry.bookingId) ?? null;
      if (from !== entry.status) changes.push({ bookingId: entry.bookingId, from, to: entry.status });
      state.set(entry.bookingId, entry.status);
    }
    return changes;
  }

  private async write(client: PoolClient, eventId: string, entries: LogEntry[]): Promise<void> {
    // A row per booking: its last entry in the batch is its state (the log is in order).
    const latest = new Map<string, LogEntry>();
    for (const entry of entries) latest.set(entry.bookingId, entry);
    if (this.onChanges !== null) await this.onChanges(client, eventId, await this.changes(client, entries, [...latest.keys()]));
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
