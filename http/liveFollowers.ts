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

// The bookings the live channel's sockets follow, grouped by event: each followed event's log
// is tailed (engine/logTail.ts), and a batch of changes re-reads the bookings it can move.

/** One socket's state: the booking it follows and what it was last sent. */
export interface Follower {
  eventId: string;
  bookingId: string;
  token: string;
  status: string;
  /** Last message sent, so an unchanged status is not sent again. */
  lastJson: string;
  closed: boolean;
}

interface Followed {
  sockets: Set<WebSocket<Follower>>;
  /** Upgrades admitted for this event whose socket is not open yet; the event is followed while any exist. */
  pending: number;
  /** When bookings were served from the line recently (ms), oldest first; for the wait estimate. */
  servedAtMs: number[];
}

/** The service rate is measured over this window. */
const RATE_WINDOW_MS = 60_000;
const SERVED_SAMPLES_MAX = 1000;

export class Followers {
  private readonly followed = new Map<string, Followed>();
  private readonly tail: LogTail;

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
    const recent = (await this.engine.redis.xrevrange(logKey(eventId), "+", Date.now() - RATE_WINDOW_MS, "COUNT", SERVED_SAMPLES_MAX)) as [string, string[]][];
    const raced = this.followed.get(eventId);
    if (raced) {
      raced.pending += 1;
      return;
    }
    const followed: Followed = { sockets: new Set(), pending: 1, servedAtMs: [] };
    for (const [id, fields] of recent.reverse()) noteServed(followed, decodeLogEntry(id, fields));
    this.followed.set(eventId, followed);
    await this.tail.follow(eventId, recent[recent.length - 1]?.[0] ?? "0-0");
  }

  /** A pending upgrade ended (refused or aborted) or a socket closed; the event is dropped when nobody follows it. */
  release(eventId: string, wasOpen: boolean): void {
    const followed = this.followed.get(eventId);
    if (followed === undefined) return;
    if (!wasOpen) followed.pending -= 1;
    if (followed.pending === 0 && followed.sockets.size === 0) {
      this.followed.delete(eventId);
      this.tail.unfollow(eventId);
    }
  }

  /** A pending upgrade became an open socket. */
  opened(ws: WebSocket<Follower>): void {
    const followed = this.followed.get(ws.getUserData().eventId)!;
    followed.pending -= 1;
    followed.sockets.add(ws);
    // Changes between the upgrade's read and now are covered by this fresh read.
    void this.refresh(ws);
  }

  closed(ws: WebSocket<Follower>): void {
    const follower = ws.getUserData();
    follower.closed = true;
    this.followed.get(follower.eventId)?.sockets.delete(ws);
    this.release(follower.eventId, true);
  }

  stop(): void {
    for (const followed of this.followed.values()) for (const ws of followed.sockets) ws.end(1001, "server stopping");
    this.tail.stop();
  }

  /** A batch of changes of one event: re-reads the bookings it touched, and every waiting one if the line moved. */
  private apply(eventId: string, entries: RawLogEntry[]): void {
    const followed = this.followed.get(eventId);
    if (followed === undefined) return;
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
    const view = bookingView(booking, this.config.http.publicUrl, nowMs);
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

function noteServed(followed: Followed, entry: LogEntry): void {
  if (entry.status !== STATE.held || entry.reason !== "served") return;
  followed.servedAtMs.push(entry.atMs);
  if (followed.servedAtMs.length > SERVED_SAMPLES_MAX) followed.servedAtMs.shift();
}
