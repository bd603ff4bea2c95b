import type { RedisConfig } from "./config.js";
import { logKey } from "./keys.js";
import type { Logger } from "./logger.js";
import { connectRedis, isCluster, type RedisClient } from "./redis.js";

// Reads many events' logs (log:{E}) from a last id each, as they grow: one XREAD over every
// log on one Redis, or one per log on a Redis Cluster (one XREAD cannot name logs of events in
// different slots). LogTail keeps doing so on a dedicated connection for the events it follows.

/** One log entry as XREAD returns it: its stream id and flat field/value list. */
export type RawLogEntry = [streamId: string, fields: string[]];

/** XREAD's answer: per stream key, its entries. */
type StreamReply = [string, RawLogEntry[]][];

/**
 * The entries after each event's id (`from`: event id → last id seen), at most `count` per log.
 * On one Redis a single XREAD, blocking up to blockMs when nothing is there; on a cluster one
 * non-blocking XREAD per log, auto-pipelined per node.
 */
async function readLogs(
  redis: RedisClient,
  from: ReadonlyMap<string, string>,
  count: number,
  blockMs: number | null,
): Promise<[eventId: string, entries: RawLogEntry[]][]> {
  const eventIds = [...from.keys()];
  const eventOfKey = new Map(eventIds.map((eventId) => [logKey(eventId), eventId]));
  let reply: StreamReply;
  if (isCluster(redis)) {
    const replies = await Promise.all(
      eventIds.map(
        (eventId) =>
          redis.call(
            "XREAD",
            "COUNT",
            count,
            "STREAMS",
            logKey(eventId),
            from.get(eventId)!,
          ) as Promise<StreamReply | null>,
      ),
    );
    reply = replies.flatMap((one) => one ?? []);
  } else {
    const block = blockMs === null ? [] : ["BLOCK", blockMs];
    reply =
      ((await redis.call(
        "XREAD",
        "COUNT",
        count,
        ...block,
        "STREAMS",
        ...eventIds.map(logKey),
        ...eventIds.map((eventId) => from.get(eventId)!),
      )) as StreamReply | null) ?? [];
  }
  return reply.map(([key, entries]) => [eventOfKey.get(key)!, entries]);
}

/** Entries read per log per XREAD; the rest come on the next read. */
const READ_COUNT = 1000;
/** Longest a read blocks; a newly followed event also interrupts it. */
const READ_BLOCK_MS = 5000;
/** On a cluster reads do not block: an idle pass waits this long (a newly followed event ends the wait). */
const CLUSTER_POLL_MS = 50;
/** Wait before reading again after the reader failed. */
const RESTART_MS = 200;

/** Follows a changing set of event logs, handing each batch of new entries to onEntries in log order. */
export class LogTail {
  /** Event id → the id of the last entry handed on. */
  private readonly positions = new Map<string, string>();
  private reader: RedisClient | null = null;
  private readerId = 0;
  private reading = false;
  private blocked = false;
  /** Ends a cluster poll's wait early (a newly followed event). */
  private wake: (() => void) | null = null;
  private stopped = false;

  constructor(
    private readonly config: RedisConfig,
    /** A connection of the engine's, to interrupt the reader's blocking XREAD. */
    private readonly redis: RedisClient,
    private readonly log: Logger,
    private readonly onEntries: (eventId: string, entries: RawLogEntry[]) => void,
  ) {}

  /** Starts following an event's log after fromId ("0-0": from its start); a followed event is left as it is. */
  async follow(eventId: string, fromId: string): Promise<void> {
    if (this.positions.has(eventId)) return;
    this.positions.set(eventId, fromId);
    if (!this.reading) void this.readLoop();
    else if (this.wake) this.wake();
    else if (this.blocked) await this.redis.call("CLIENT", "UNBLOCK", this.readerId);
  }

  unfollow(eventId: string): void {
    this.positions.delete(eventId);
  }

  stop(): void {
    this.stopped = true;
    this.reader?.disconnect();
  }

  private async readLoop(): Promise<void> {
    this.reading = true;
    try {
      if (this.reader === null) {
        const cluster = isCluster(this.redis);
        this.reader = connectRedis(this.config, {
          enableAutoPipelining: cluster,
          maxRetriesPerRequest: null,
          log: this.log,
          role: "live log reader",
        });
        if (!cluster) this.readerId = Number(await this.reader.call("CLIENT", "ID"));
      }
      while (!this.stopped && this.positions.size > 0) await this.readOnce(this.reader);
    } catch (error) {
      if (!this.stopped) this.log.error({ err: error }, "log reader failed; restarting");
      this.reader?.disconnect();
      this.reader = null;
    } finally {
      this.reading = false;
      this.blocked = false;
    }
    if (!this.stopped && this.positions.size > 0) setTimeout(() => void this.readLoop(), RESTART_MS);
  }

  private async readOnce(reader: RedisClient): Promise<void> {
    const cluster = isCluster(reader);
    this.blocked = !cluster;
    let batches: Awaited<ReturnType<typeof readLogs>>;
    try {
      batches = await readLogs(reader, new Map(this.positions), READ_COUNT, cluster ? null : READ_BLOCK_MS);
    } finally {
      this.blocked = false;
    }
    if (batches.length === 0 && cluster) await this.idle();
    for (const [eventId, entries] of batches) {
      if (!this.positions.has(eventId) || entries.length === 0) continue;
      this.positions.set(eventId, entries[entries.length - 1]![0]);
      this.onEntries(eventId, entries);
    }
  }

  private async idle(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLUSTER_POLL_MS);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = null;
  }
}
