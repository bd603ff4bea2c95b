import type { RedisClient } from "../engine/redis.js";
import { compareStreamIds, decodeLogEntry, lastLogId, type LogEntry } from "../engine/eventLog.js";
import type { RelayConfig } from "../engine/config.js";
import { logKey } from "../engine/keys.js";
import type { BookingState } from "../engine/schema.js";
import { metrics } from "../engine/metrics.js";
import { inTransaction, type Pool, type PoolClient } from "../sql/db.js";
import { bookingStatuses, upsertBookings, upsertUsers } from "../sql/bookings.js";
import { activeRelayOffsets, lockRelayOffset, saveRelayOffset } from "../sql/relay.js";

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
    private readonly config: RelayConfig,
    private readonly onChanges: OnChanges | null = null,
  ) {}

  /** One pass over every active event with new entries; true when a batch was full, so more is waiting. */
  async pass(): Promise<boolean> {
    const offsets = await activeRelayOffsets(this.pool);
    // Most events are idle: one auto-pipelined look at each log's newest id, and a transaction
    // only for the events that have something past their offset.
    const newest = await Promise.all(offsets.map(({ eventId }) => lastLogId(this.redis, eventId)));
    let more = false;
    for (const [index, { eventId, streamId }] of offsets.entries()) {
      const last = newest[index]!;
      if (last === null || compareStreamIds(last, streamId) <= 0) continue;
      more = (await this.relayEvent(eventId)) === this.config.batch || more;
    }
    return more;
  }

  /** Writes the next batch of one event's log; 0 if there is none or another relay holds the event. */
  async relayEvent(eventId: string): Promise<number> {
    const { lastId, count } = await inTransaction(this.pool, async (client) => {
      const from = await lockRelayOffset(client, eventId);
      if (from === null) return { lastId: null, count: 0 };
      const raw = await this.redis.xrange(logKey(eventId), `(${from}`, "+", "COUNT", this.config.batch);
      if (raw.length === 0) return { lastId: null, count: 0 };
      await this.write(client, eventId, raw.map(([id, flat]) => decodeLogEntry(id, flat)));
      const last = raw[raw.length - 1]![0];
      await saveRelayOffset(client, eventId, last);
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
    const state: Map<string, BookingState | null> = await bookingStatuses(client, bookingIds);
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
    const userIds = await upsertUsers(client, emails);
    const rows = [...latest.values()];
    const column = <T>(pick: (entry: LogEntry) => T): T[] => rows.map(pick);
    await upsertBookings(client, eventId, {
      id: column((e) => e.bookingId),
      userId: column((e) => userIds.get(e.userId)!),
      quantity: column((e) => e.quantity),
      status: column((e) => e.status),
      reason: column((e) => e.reason),
      arrivalSeq: column((e) => e.arrivalSeq),
      holdSeq: column((e) => e.holdSeq),
      amount: column((e) => e.amount),
      currency: column((e) => e.currency),
      expiresAt: column((e) => (e.expiresAtMs > 0 ? new Date(e.expiresAtMs) : null)),
      paymentRef: column((e) => e.paymentRef),
      logId: column((e) => e.streamId),
      createdAt: column((e) => new Date(e.createdAtMs)),
      updatedAt: column((e) => new Date(e.atMs)),
    });
  }
}
