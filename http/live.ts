import { connectRedis, isCluster, type RedisClient } from "../engine/redis.js";
import type { HttpResponse, TemplatedApp, WebSocket } from "uWebSockets.js";
import type { Config } from "../engine/config.js";
import type { Booking, Engine } from "../engine/engine.js";
import { eventIdOfToken, isUuid } from "../engine/ids.js";
import { decodeLogEntry, type LogEntry } from "../engine/eventLog.js";
import { logKey } from "../engine/keys.js";
import { STATE } from "../engine/schema.js";
import type { Logger } from "../engine/logger.js";
import { EngineError } from "../engine/errors.js";
import { metrics } from "../engine/metrics.js";
import { problemReply, writeReply } from "./exchange.js";
import { problems, toProblem, type Problem } from "./problems.js";
import { bookingView } from "./routes/bookings.js";

// WS /live?booking=<id>&token=<token>: pushes a booking's place in line, its turn (payment
// link and deadline) and its end as they happen. Changes reach every HTTP process the same
// way: each process reads the per-event log stream `log:{E}` (the one the relay reads) on one
// dedicated connection, for the events its sockets follow, and re-reads the bookings a batch
// of changes can move. GET /bookings/:id stays the polling fallback.

interface Follower {
  eventId: string;
  bookingId: string;
  token: string;
  status: string;
  /** Last message sent, so an unchanged status is not sent again. */
  lastJson: string;
  closed: boolean;
}

interface Followed {
  lastId: string;
  sockets: Set<WebSocket<Follower>>;
  /** Upgrades admitted for this event whose socket is not open yet; the event is followed while any exist. */
  pending: number;
  /** When bookings were served from the line recently (ms), oldest first; for the wait estimate. */
  servedAtMs: number[];
}

/** Entries read per stream per XREAD; the rest come on the next read. */
const READ_COUNT = 1000;
/** Longest a read blocks; a newly followed event also interrupts it. */
const READ_BLOCK_MS = 5000;
/**
 * On a Redis Cluster one XREAD cannot name logs of events in different slots, so each log is
 * read on its own without blocking (auto-pipelined per node) and an idle pass waits this long.
 */
const CLUSTER_POLL_MS = 50;
/** The service rate is measured over this window. */
const RATE_WINDOW_MS = 60_000;
const SERVED_SAMPLES_MAX = 1000;
const SOCKET_BACKPRESSURE_BYTES = 64 * 1024;

/** XREAD's answer: per stream key, its entries (id, flat field/value list). */
type StreamReply = [string, [string, string[]][]][];

export class LiveStatus {
  private readonly followed = new Map<string, Followed>();
  private reader: RedisClient | null = null;
  private readerId = 0;
  private reading = false;
  private blocked = false;
  /** Ends a cluster poll's wait early (a newly followed event). */
  private wake: (() => void) | null = null;
  private stopped = false;
  private sockets = 0;

  constructor(
    private readonly engine: Engine,
    private readonly config: Config,
    private readonly log: Logger,
  ) {}

  mount(app: TemplatedApp): void {
    app.ws<Follower>("/live", {
      idleTimeout: 60,
      sendPingsAutomatically: true,
      maxPayloadLength: 512,
      maxBackpressure: SOCKET_BACKPRESSURE_BYTES,
      closeOnBackpressureLimit: 1,
      upgrade: (res, req, context) => {
        const query = new URLSearchParams(req.getQuery() ?? "");
        const key = req.getHeader("sec-websocket-key");
        const protocol = req.getHeader("sec-websocket-protocol");
        const extensions = req.getHeader("sec-websocket-extensions");
        const state = { aborted: false };
        res.onAborted(() => {
          state.aborted = true;
        });
        this.admit(query.get("booking") ?? "", query.get("token") ?? "").then(
          (follower) => {
            if (state.aborted) {
              if (typeof follower !== "number") this.release(follower.eventId, false);
              return;
            }
            res.cork(() => {
              if (typeof follower === "number") refuse(res, follower);
              else res.upgrade(follower, key, protocol, extensions, context);
            });
          },
          (error: unknown) => {
            this.log.error({ err: error }, "live upgrade failed");
            if (!state.aborted) res.cork(() => refuse(res, 500));
          },
        );
      },
      open: (ws) => {
        const follower = ws.getUserData();
        this.sockets += 1;
        metrics.liveSockets.set(this.sockets);
        const followed = this.followed.get(follower.eventId)!;
        followed.pending -= 1;
        followed.sockets.add(ws);
        // Changes between the upgrade's read and now are covered by this fresh read.
        void this.refresh(ws);
      },
      close: (ws) => {
        const follower = ws.getUserData();
        follower.closed = true;
        this.sockets -= 1;
        metrics.liveSockets.set(this.sockets);
        this.followed.get(follower.eventId)?.sockets.delete(ws);
        this.release(follower.eventId, true);
      },
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const followed of this.followed.values()) for (const ws of followed.sockets) ws.end(1001, "server stopping");
    this.reader?.disconnect();
  }

  /** Checks the token and starts following the event; a number is the HTTP status to refuse with. */
  private async admit(bookingId: string, token: string): Promise<Follower | number> {
    const eventId = eventIdOfToken(token);
    if (!isUuid(bookingId) || eventId === null) return 404;
    if (this.sockets >= this.config.limits.liveSocketsMax) return 503;
    await this.follow(eventId);
    const booking = await this.engine.status(bookingId, token).catch(() => null);
    if (booking === null) {
      this.release(eventId, false);
      return 404;
    }
    return { eventId, bookingId, token, status: booking.status, lastJson: "", closed: false };
  }

  /**
   * Counts one more pending upgrade for the event; the first starts reading the event's log
   * from its current end, seeding the service rate from its recent past.
   */
  private async follow(eventId: string): Promise<void> {
    const known = this.followed.get(eventId);
    if (known) {
      known.pending += 1;
      return;
    }
    const recent = (await this.engine.redis.xrevrange(logKey(eventId), "+", Date.now() - RATE_WINDOW_MS, "COUNT", SERVED_SAMPLES_MAX)) as [string, string[]][];
    const raced = this.followed.get(eventId);
    if (raced) {
      raced.pending += 1;
      return;
    }
    const followed: Followed = { lastId: recent[0]?.[0] ?? "0-0", sockets: new Set(), pending: 1, servedAtMs: [] };
    for (const [id, fields] of recent.reverse()) noteServed(followed, decodeLogEntry(id, fields));
    this.followed.set(eventId, followed);
    if (!this.reading) void this.readLoop();
    else if (this.wake) this.wake();
    else if (this.blocked) await this.engine.redis.call("CLIENT", "UNBLOCK", this.readerId);
  }

  /** A pending upgrade ended (refused or aborted) or a socket closed; the event is dropped when nobody follows it. */
  private release(eventId: string, wasOpen: boolean): void {
    const followed = this.followed.get(eventId);
    if (followed === undefined) return;
    if (!wasOpen) followed.pending -= 1;
    if (followed.pending === 0 && followed.sockets.size === 0) this.followed.delete(eventId);
  }

  private async readLoop(): Promise<void> {
    this.reading = true;
    try {
      if (this.reader === null) {
        const cluster = isCluster(this.engine.redis);
        this.reader = connectRedis(this.config, { enableAutoPipelining: cluster, maxRetriesPerRequest: null });
        if (!cluster) this.readerId = Number(await this.reader.call("CLIENT", "ID"));
      }
      while (!this.stopped && this.followed.size > 0) {
        const eventIds = [...this.followed.keys()];
        const ids = eventIds.map((id) => this.followed.get(id)!.lastId);
        const reply = isCluster(this.reader) ? await this.poll(this.reader, eventIds, ids) : await this.block(this.reader, eventIds, ids);
        for (const [key, entries] of reply) this.apply(key.slice("log:{".length, -1), entries);
      }
    } catch (error) {
      if (!this.stopped) this.log.error({ err: error }, "live reader failed; restarting");
      this.reader?.disconnect();
      this.reader = null;
    } finally {
      this.reading = false;
      this.blocked = false;
    }
    if (!this.stopped && this.followed.size > 0) setTimeout(() => void this.readLoop(), 200);
  }

  /** One XREAD over every followed log, blocking until something is appended. */
  private async block(reader: RedisClient, eventIds: string[], ids: string[]): Promise<StreamReply> {
    this.blocked = true;
    try {
      return ((await reader.call("XREAD", "COUNT", READ_COUNT, "BLOCK", READ_BLOCK_MS, "STREAMS", ...eventIds.map(logKey), ...ids)) as StreamReply | null) ?? [];
    } finally {
      this.blocked = false;
    }
  }

  /** One XREAD per followed log (a cluster keeps them in different slots); waits when none had news. */
  private async poll(reader: RedisClient, eventIds: string[], ids: string[]): Promise<StreamReply> {
    const replies = await Promise.all(eventIds.map((eventId, index) => reader.call("XREAD", "COUNT", READ_COUNT, "STREAMS", logKey(eventId), ids[index]!) as Promise<StreamReply | null>));
    const reply = replies.flatMap((one) => one ?? []);
    if (reply.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLUSTER_POLL_MS);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    return reply;
  }

  /** A batch of changes of one event: re-reads the bookings it touched, and every waiting one if the line moved. */
  private apply(eventId: string, entries: [string, string[]][]): void {
    const followed = this.followed.get(eventId);
    if (followed === undefined || entries.length === 0) return;
    followed.lastId = entries[entries.length - 1]![0];
    const touched = new Set<string>();
    let lineMoved = false;
    for (const [id, raw] of entries) {
      const entry = decodeLogEntry(id, raw);
      touched.add(entry.bookingId);
      // Joining at the tail moves nobody; anything else may have taken someone out of the line.
      if (entry.status !== STATE.waiting) lineMoved = true;
      noteServed(followed, entry);
    }
    for (const ws of followed.sockets) {
      const follower = ws.getUserData();
      if (touched.has(follower.bookingId) || (lineMoved && follower.status === STATE.waiting)) void this.refresh(ws);
    }
  }

  private async refresh(ws: WebSocket<Follower>): Promise<void> {
    const follower = ws.getUserData();
    try {
      const booking = await this.engine.status(follower.bookingId, follower.token);
      if (follower.closed) return;
      const json = JSON.stringify(this.message(booking));
      follower.status = booking.status;
      if (json === follower.lastJson) return;
      follower.lastJson = json;
      ws.send(json);
      metrics.liveMessages.inc();
    } catch (error) {
      if (!follower.closed) this.log.warn({ err: error, bookingId: follower.bookingId }, "live status read failed");
    }
  }

  private message(booking: Booking): Record<string, unknown> {
    const nowMs = Date.now();
    const view = bookingView(booking, this.config.publicUrl, nowMs);
    if (view.status === STATE.waiting) {
      return { type: "position", ...view, estimatedWaitSeconds: this.estimateWaitSeconds(booking.eventId, booking.position, nowMs) };
    }
    if (view.status === STATE.held) return { type: "turn", ...view };
    return { type: "status", ...view };
  }

  /** Place in line over the recent service rate (bookings served per second); null before anyone was served. */
  private estimateWaitSeconds(eventId: string, position: number, nowMs: number): number | null {
    const served = this.followed.get(eventId)?.servedAtMs.filter((atMs) => atMs > nowMs - RATE_WINDOW_MS) ?? [];
    if (served.length === 0) return null;
    const spanMs = Math.max(1000, nowMs - served[0]!);
    return Math.ceil(position / (served.length / (spanMs / 1000)));
  }
}

const REFUSALS: Record<number, () => Problem> = {
  404: () => toProblem(new EngineError("BOOKING_NOT_FOUND", ""))!,
  503: () => problems.unavailable("Too many live connections on this process (LIVE_SOCKETS_MAX); poll GET /bookings/:id."),
  500: () => problems.internal(),
};

/** Answers an upgrade that is refused with a problem+json body, like every other route. */
function refuse(res: HttpResponse, status: number): void {
  writeReply(res, problemReply(REFUSALS[status]!(), "/live"));
}

function noteServed(followed: Followed, entry: LogEntry): void {
  if (entry.status !== STATE.held || entry.reason !== "served") return;
  followed.servedAtMs.push(entry.atMs);
  if (followed.servedAtMs.length > SERVED_SAMPLES_MAX) followed.servedAtMs.shift();
}
