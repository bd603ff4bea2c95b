import type { RedisClient } from "../engine/redis.js";
import { compareStreamIds, decodeLogEntry, lastLogId, logEntryBookingId, type LogEntry } from "../engine/eventLog.js";
import type { RelayConfig } from "../engine/config.js";
import { logKey } from "../engine/keys.js";
import type { BookingState } from "../engine/schema.js";
import type { Logger } from "../engine/logger.js";
import { metrics } from "../engine/metrics.js";
import type { PassOutcome } from "./periodic.js";
import { inTransaction, type Pool, type PoolClient } from "../sql/db.js";
import { bookingLogId, writeBookings, type BookingColumns } from "../sql/bookings.js";
import {
  activeRelayOffsets,
  insertDeadLetter,
  lockDeadLetter,
  lockRelayOffset,
  markDeadLetterReplayed,
  openDeadLetters,
  recordRelayFailure,
  saveRelayOffset,
  updateDeadLetterError,
  waitForRelayOffset,
  type DeadLetter,
  type LockedOffset,
  type NewDeadLetter,
} from "../sql/relay.js";

// The relay copies each event's Redis log (log:{E}) into PostgreSQL. One transaction writes
// a batch of booking rows and the stream id it reached, so every entry is applied exactly
// once however often the relay crashes. Any number of relays may run: the offset row is
// locked FOR UPDATE SKIP LOCKED, so one works on an event at a time and another takes over
// as soon as it stops. Works through pgbouncer in transaction mode (no session state).
//
// One event's trouble never holds up another's: a pass goes on to the next event, and the
// failing one goes last in line. After RELAY_MAX_ATTEMPTS failed passes over the same entries,
// the batch is written in halves, each in a savepoint, halving again what is refused down to
// single entries; one PostgreSQL refuses alone is set aside in relay_dead_letters with its
// error, and the offset moves past it. `replay` writes them again.

/** Dead letters one replay walks at most. */
export const REPLAY_MAX = 1000;
/** Characters of an error message kept with a dead letter or an offset. */
const ERROR_TEXT_MAX = 2000;

type RawEntry = [streamId: string, fields: string[]];

export interface ReplayResult {
  /** Written to bookings. */
  replayed: number;
  /** Not written: PostgreSQL already had a later state of the booking. */
  superseded: number;
  /** Refused again; the dead letter keeps the new error. */
  failed: number;
}

/** An error as text PostgreSQL can store (no NUL), of bounded length. */
function errorText(error: unknown): string {
  return storable(error instanceof Error ? error.message : String(error)).slice(0, ERROR_TEXT_MAX);
}

function storable(text: string): string {
  return text.replaceAll("\u0000", "\uFFFD");
}

/** A booking's state moving from what PostgreSQL had (null: new) to a log entry's. */
export interface StateChange {
  bookingId: string;
  from: BookingState | null;
  to: BookingState;
  /** The address given with the booking ("" for none). */
  email: string;
}

/** Runs in the relay's transaction with each batch: queues the side effects its changes call for. */
export type OnChanges = (client: PoolClient, eventId: string, changes: StateChange[]) => Promise<unknown>;

export class Relay {
  /** Events whose last batch came back full (a backlog), with the size of their next batch. */
  private readonly backlogBatch = new Map<string, number>();

  constructor(
    private readonly pool: Pool,
    private readonly redis: RedisClient,
    private readonly config: RelayConfig,
    private readonly log: Logger,
    private readonly onChanges: OnChanges | null = null,
  ) {}

  /** One pass over every active event with new entries: "more" when a batch was full, so more is waiting. */
  async pass(): Promise<PassOutcome> {
    const offsets = await activeRelayOffsets(this.pool);
    // Most events are idle: one auto-pipelined look at each log's newest id, and a transaction
    // only for the events that have something past their offset.
    const newest = await Promise.all(offsets.map(({ eventId }) => lastLogId(this.redis, eventId)));
    let outcome: PassOutcome = "idle";
    for (const [index, { eventId, streamId }] of offsets.entries()) {
      const last = newest[index]!;
      if (last === null || compareStreamIds(last, streamId) <= 0) continue;
      if (outcome === "idle") outcome = "done";
      try {
        await this.relayEvent(eventId);
        if (this.backlogBatch.has(eventId)) outcome = "more";
      } catch (error) {
        this.log.error(
          { err: error, eventId },
          "relay could not write the event's next entries; other events go on, it will be retried",
        );
      }
    }
    return outcome;
  }

  /** Writes the next batch of one event's log; 0 if there is none or another relay holds the event. */
  async relayEvent(eventId: string): Promise<number> {
    // Each batch has a cost of its own (a transaction, its statements): a backlog is written in
    // fewer, larger ones, bounded by RELAY_BATCH_MAX; once the relay keeps up, back to RELAY_BATCH.
    const limit = this.backlogBatch.get(eventId) ?? this.config.batch;
    this.backlogBatch.delete(eventId);
    const locked: { offset: LockedOffset | null } = { offset: null };
    let setAside: NewDeadLetter[] = [];
    let written: { lastId: string | null; count: number };
    try {
      written = await inTransaction(this.pool, async (client) => {
        const from = await lockRelayOffset(client, eventId);
        locked.offset = from;
        if (from === null) return { lastId: null, count: 0 };
        const raw = await this.redis.xrange(logKey(eventId), `(${from.streamId}`, "+", "COUNT", limit);
        if (raw.length === 0) return { lastId: null, count: 0 };
        if (from.failures < this.config.maxAttempts)
          await this.write(
            client,
            eventId,
            raw.map(([id, flat]) => decodeLogEntry(id, flat)),
          );
        else setAside = await this.writeBisecting(client, eventId, raw);
        const last = raw[raw.length - 1]![0];
        await saveRelayOffset(client, eventId, last);
        return { lastId: last, count: raw.length };
      });
    } catch (error) {
      metrics.relayFailures.inc();
      // Not counted if PostgreSQL itself is out of reach: the next pass will try again anyway.
      if (locked.offset !== null)
        await recordRelayFailure(this.pool, eventId, locked.offset.streamId, errorText(error)).catch(() => null);
      throw error;
    }
    for (const letter of setAside) {
      metrics.relayDeadLetters.inc();
      this.log.error(
        { eventId, streamId: letter.streamId, bookingId: letter.bookingId, error: letter.error },
        "relay set a log entry aside in relay_dead_letters (replay with: onsale relay replay)",
      );
    }
    if (written.count === limit) this.backlogBatch.set(eventId, Math.min(limit * 2, this.config.batchMax));
    if (written.lastId !== null) {
      metrics.relayEntries.inc(written.count - setAside.length);
      // Entries up to the committed id are in PostgreSQL; the log keeps only what follows.
      await this.redis.xtrim(logKey(eventId), "MINID", written.lastId);
    }
    return written.count;
  }

  /**
   * Writes the entries in a savepoint; if PostgreSQL refuses them, each half again, in log
   * order, down to single entries: one refused alone is set aside, the others are written. A
   * batch with one bad entry costs about twice its writes, not a savepoint per entry.
   */
  private async writeBisecting(client: PoolClient, eventId: string, raw: RawEntry[]): Promise<NewDeadLetter[]> {
    await client.query("SAVEPOINT relay_part");
    try {
      await this.write(
        client,
        eventId,
        raw.map(([streamId, fields]) => decodeLogEntry(streamId, fields)),
      );
      await client.query("RELEASE SAVEPOINT relay_part");
      return [];
    } catch (error) {
      await client.query("ROLLBACK TO SAVEPOINT relay_part");
      await client.query("RELEASE SAVEPOINT relay_part");
      if (raw.length > 1) {
        const half = Math.ceil(raw.length / 2);
        const first = await this.writeBisecting(client, eventId, raw.slice(0, half));
        return [...first, ...(await this.writeBisecting(client, eventId, raw.slice(half)))];
      }
      const [streamId, fields] = raw[0]!;
      const letter = {
        eventId,
        streamId,
        bookingId: storable(logEntryBookingId(fields)),
        fields,
        error: errorText(error),
      };
      await insertDeadLetter(client, letter);
      return [letter];
    }
  }

  /** Writes set-aside entries again (every open one, or those of these ids), each in its own transaction. */
  async replay(ids: number[] | null = null): Promise<ReplayResult> {
    const result: ReplayResult = { replayed: 0, superseded: 0, failed: 0 };
    for (const letter of await openDeadLetters(this.pool, ids, REPLAY_MAX)) {
      try {
        const outcome = await inTransaction(this.pool, (client) => this.replayOne(client, letter));
        if (outcome !== null) result[outcome] += 1;
      } catch (error) {
        result.failed += 1;
        await updateDeadLetterError(this.pool, letter.id, errorText(error));
        this.log.warn(
          { deadLetter: letter.id, eventId: letter.eventId, error: errorText(error) },
          "relay dead letter refused again; kept",
        );
      }
    }
    this.log.info(result, "relay dead letters replayed");
    return result;
  }

  private async replayOne(client: PoolClient, letter: DeadLetter): Promise<"replayed" | "superseded" | null> {
    // The event's relay waits meanwhile, so the booking's row cannot move under the check below.
    await waitForRelayOffset(client, letter.eventId);
    if (!(await lockDeadLetter(client, letter.id))) return null;
    const entry = decodeLogEntry(letter.streamId, letter.fields);
    // A later entry of the booking already written is its newer state: never go back to this one.
    const writtenFrom = await bookingLogId(client, entry.bookingId);
    const superseded = writtenFrom !== null && compareStreamIds(writtenFrom, entry.streamId) >= 0;
    if (!superseded) await this.write(client, letter.eventId, [entry]);
    await markDeadLetterReplayed(client, letter.id);
    return superseded ? "superseded" : "replayed";
  }

  private async write(client: PoolClient, eventId: string, entries: LogEntry[]): Promise<void> {
    // A row per booking: its last entry in the batch is its state (the log is in order).
    const latest = new Map<string, LogEntry>();
    for (const entry of entries) latest.set(entry.bookingId, entry);
    const committed = await writeBookings(client, eventId, bookingColumns([...latest.values()]));
    if (this.onChanges !== null) await this.onChanges(client, eventId, changesOf(entries, committed));
  }
}

/** Every state transition in the batch, in log order, starting from the rows as committed. */
function changesOf(entries: LogEntry[], committed: Map<string, BookingState>): StateChange[] {
  const state = new Map<string, BookingState | null>(committed);
  const changes: StateChange[] = [];
  for (const entry of entries) {
    const from = state.get(entry.bookingId) ?? null;
    if (from !== entry.status) changes.push({ bookingId: entry.bookingId, from, to: entry.status, email: entry.email });
    state.set(entry.bookingId, entry.status);
  }
  return changes;
}

/** The rows of these entries, a column each. */
function bookingColumns(rows: LogEntry[]): BookingColumns {
  const column = <T>(pick: (entry: LogEntry) => T): T[] => rows.map(pick);
  return {
    id: column((e) => e.bookingId),
    userRef: column((e) => e.userId),
    quantity: column((e) => e.quantity),
    status: column((e) => e.status),
    reason: column((e) => e.reason),
    arrivalSeq: column((e) => e.arrivalSeq),
    holdSeq: column((e) => e.holdSeq),
    amount: column((e) => e.amount),
    currency: column((e) => e.currency),
    expiresAtMs: column((e) => e.expiresAtMs),
    paymentRef: column((e) => e.paymentRef),
    logId: column((e) => e.streamId),
    createdAtMs: column((e) => e.createdAtMs),
    updatedAtMs: column((e) => e.atMs),
    email: column((e) => e.email),
  };
}
