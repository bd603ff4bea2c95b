import type { WebSocket } from "uWebSockets.js";
import type { Config } from "../engine/config.js";
import type { Booking, Engine } from "../engine/engine.js";
import { decodeLogEntry, type LogEntry } from "../engine/eventLog.js";
import { logKey } from "../engine/keys.js";
import type { Logger } from "../engine/logger.js";
import { LogTail, type RawLogEntry } from "../engine/logTail.js";
import { metrics } from "../engine/metrics.js";
import { STATE } from "../engine/schema.js";
import { bookingView } from "./bookingView.js";

// The bookings the live channel's sockets follow, grouped by event and booking: each followed
// event's log is tailed (engine/logTail.ts), and changes mark the bookings they can move. An
// event's marked bookings are read in rounds at most LIVE_REFRESH_MS apart, one read per booking
// however many sockets follow it, so a change costs reads per booking followed, not per socket.

/** One socket's state: the booking it follows and what it was last sent. */
export interface Follower {
  eventId: string;
  bookingId: string;
  token: string;
  /** The client's address, for the per-address cap. */
  ip: string;
  status: string;
  /** Last message sent, so an unchanged status is not sent again. */
  lastJson: string;
  closed: boolean;
}

interface Followed {
  /** Open sockets by the booking they follow. */
  bookings: Map<string, Set<WebSocket<Follower>>>;
  /** Upgrades admitted for this event whose socket is not open yet; the event is followed while any exist. */
  pending: number;
  /** When bookings were served from the line recently (ms), oldest first; for the wait estimate. */
  servedAtMs: number[];
  /** Bookings to read at the next round, and whether every waiting one is (the line moved). */
  marked: Set<string>;
  lineMoved: boolean;
  /** A round is scheduled or running. */
  refreshing: boolean;
  lastRoundAtMs: number;
}

/** The service rate is measured over this window. */
const RATE_WINDOW_MS = 60_000;
const SERVED_SAMPLES_MAX = 1000;

export class Followers {
  private readonly followed = new Map<string, Followed>();
  private readonly tail: LogTail;
  private stopped = false;

  constructor(
    private readonly engine: Engine,
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.tail = new LogTail(config.redis, engine.redis, log, (eventId, entries) => this.apply(eventId, entries));
  }

  /**
   * Counts one more pending upgrade for the event; the first starts tailing the event's log
   * from its current end, seeding the service rate from its recent past.
   */
  async follow(eventId: string): Promise<void> {
    const known = this.followed.get(eventId);
    if (known) {
      known.pending += 1;
      return;
    }
    const recent = (await this.engine.redis.xrevrange(
      logKey(eventId),
      "+",
      Date.now() - RATE_WINDOW_MS,
      "COUNT",
      SERVED_SAMPLES_MAX,
    )) as [string, string[]][];
    const raced = this.followed.get(eventId);
    if (raced) {
      raced.pending += 1;
      return;
    }
    const followed: Followed = {
      bookings: new Map(),
      pending: 1,
      servedAtMs: [],
      marked: new Set(),
      lineMoved: false,
      refreshing: false,
      lastRoundAtMs: 0,
    };
    for (const [id, fields] of recent.reverse()) noteServed(followed, decodeLogEntry(id, fields));
    this.followed.set(eventId, followed);
    await this.tail.follow(eventId, recent[recent.length - 1]?.[0] ?? "0-0");
  }

  /** A pending upgrade ended (refused or aborted) or a socket closed; the event is dropped when nobody follows it. */
  release(eventId: string, wasOpen: boolean): void {
    const followed = this.followed.get(eventId);
    if (followed === undefined) return;
    if (!wasOpen) followed.pending -= 1;
    if (followed.pending === 0 && followed.bookings.size === 0) {
      this.followed.delete(eventId);
      this.tail.unfollow(eventId);
    }
  }

  /** A pending upgrade became an open socket. */
  opened(ws: WebSocket<Follower>): void {
    const { eventId, bookingId } = ws.getUserData();
    const followed = this.followed.get(eventId)!;
    followed.pending -= 1;
    const sockets = followed.bookings.get(bookingId);
    if (sockets) sockets.add(ws);
    else followed.bookings.set(bookingId, new Set([ws]));
    // Changes between the upgrade's read and the start of tailing are covered by a fresh read.
    followed.marked.add(bookingId);
    this.schedule(eventId, followed);
  }

  closed(ws: WebSocket<Follower>): void {
    const follower = ws.getUserData();
    follower.closed = true;
    const followed = this.followed.get(follower.eventId);
    const sockets = followed?.bookings.get(follower.bookingId);
    sockets?.delete(ws);
    if (sockets?.size === 0) followed!.bookings.delete(follower.bookingId);
    this.release(follower.eventId, true);
  }

  stop(): void {
    this.stopped = true;
    for (const followed of this.followed.values()) {
      for (const sockets of followed.bookings.values()) for (const ws of sockets) ws.end(1001, "server stopping");
    }
    this.tail.stop();
  }

  /** A batch of changes of one event: marks the bookings it touched, and every waiting one if the line moved. */
  private apply(eventId: string, entries: RawLogEntry[]): void {
    const followed = this.followed.get(eventId);
    if (followed === undefined) return;
    for (const [id, raw] of entries) {
      const entry = decodeLogEntry(id, raw);
      followed.marked.add(entry.bookingId);
      // Joining at the tail moves nobody; anything else may have taken someone out of the line.
      if (entry.status !== STATE.waiting) followed.lineMoved = true;
      noteServed(followed, entry);
    }
    this.schedule(eventId, followed);
  }

  /** Starts the event's next round now, or LIVE_REFRESH_MS after the last one began; at most one at a time. */
  private schedule(eventId: string, followed: Followed): void {
    if (followed.refreshing || this.stopped) return;
    followed.refreshing = true;
    const waitMs = Math.max(0, followed.lastRoundAtMs + this.config.limits.liveRefreshMs - Date.now());
    setTimeout(() => void this.round(eventId, followed), waitMs);
  }

  /** One read per marked booking, its answer sent to each of its sockets; then a next round if more changes came meanwhile. */
  private async round(eventId: string, followed: Followed): Promise<void> {
    followed.lastRoundAtMs = Date.now();
    const due: Set<WebSocket<Follower>>[] = [];
    for (const [bookingId, sockets] of followed.bookings) {
      const status = sockets.values().next().value?.getUserData().status;
      if (followed.marked.has(bookingId) || (followed.lineMoved && status === STATE.waiting)) due.push(sockets);
    }
    followed.marked.clear();
    followed.lineMoved = false;
    await Promise.all(due.map((sockets) => this.refresh(sockets)));
    followed.refreshing = false;
    const stillFollowed = this.followed.get(eventId) === followed;
    if (stillFollowed && (followed.marked.size > 0 || followed.lineMoved)) this.schedule(eventId, followed);
  }

  /** Reads one booking once and sends each of its sockets what changed for it. */
  private async refresh(sockets: Set<WebSocket<Follower>>): Promise<void> {
    const first = sockets.values().next().value;
    if (first === undefined) return;
    const { bookingId, token } = first.getUserData();
    try {
      const booking = await this.engine.status(bookingId, token);
      const json = JSON.stringify(this.message(booking));
      for (const ws of sockets) {
        const follower = ws.getUserData();
        if (follower.closed) continue;
        follower.status = booking.status;
        if (json === follower.lastJson) continue;
        follower.lastJson = json;
        ws.send(json);
        metrics.liveMessages.inc();
      }
    } catch (error) {
      this.log.warn({ err: error, bookingId }, "live status read failed");
    }
  }

  private message(booking: Booking): Record<string, unknown> {
    const nowMs = Date.now();
    const view = bookingView(booking, this.config.http.publicUrl, nowMs);
    if (view.status === STATE.waiting) {
      return {
        type: "position",
        ...view,
        estimatedWaitSeconds: this.estimateWaitSeconds(booking.eventId, booking.position, nowMs),
      };
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

function noteServed(followed: Followed, entry: LogEntry): void {
  if (entry.status !== STATE.held || entry.reason !== "served") return;
  followed.servedAtMs.push(entry.atMs);
  if (followed.servedAtMs.length > SERVED_SAMPLES_MAX) followed.servedAtMs.shift();
}
