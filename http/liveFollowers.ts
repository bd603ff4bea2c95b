import type { WebSocket } from "uWebSockets.js";
import type { Config, Limits } from "../engine/config.js";
import type { Booking } from "../engine/engine.js";
import { decodeLogEntry, lastLogId, type LogEntry } from "../engine/eventLog.js";
import { logKey } from "../engine/keys.js";
import type { Logger } from "../engine/logger.js";
import { LogTail, type RawLogEntry } from "../engine/logTail.js";
import { metrics } from "../engine/metrics.js";
import type { RedisClient } from "../engine/redis.js";
import { STATE, type BookingState } from "../engine/schema.js";
import { bookingView } from "./bookingView.js";
import { applyToLine, loadLine, type SeqRanks } from "./waitingLine.js";

// The bookings the live channel's sockets follow, grouped by event and booking. Each followed
// event's log is tailed (engine/logTail.ts) and its line kept here (http/waitingLine.ts): an
// entry updates the booking it names and the line, so a place in line is a rank computed in
// this process and moving the line costs no Redis call, however many sockets wait. Pushes are
// coalesced per event: a booking whose state changed (its turn, its end) at the next round,
// at most LIVE_REFRESH_MS apart; places near the head (LIVE_HEAD_POSITIONS) at each round the
// line moved; places further back by a full pass, in slices between which other work runs (a
// turn does not wait for 100,000 places), LIVE_POSITION_INTERVAL_MS after the last pass ended,
// each only once it moved by LIVE_POSITION_STEP_PERCENT of the place last sent.

/** One socket's state: the booking it follows. */
export interface Follower {
  eventId: string;
  bookingId: string;
  /** The client's address, for the per-address cap. */
  ip: string;
  /** The followed booking, from admission on. */
  watched: Watched | null;
}

/** One followed booking: as it now stands (from its admission read, then the log) and what its sockets were last sent. */
export interface Watched {
  booking: Booking;
  /** Its arrival sequence; 0 while unknown. */
  seq: number;
  sockets: WebSocket<Follower>[];
  /** Upgrades admitted for it whose socket is not open yet. */
  pending: number;
  /** A log entry updated it since it was first watched. */
  logged: boolean;
  lastJson: string;
  /** The place in line its sockets were last sent; 0 when none was. */
  sentPosition: number;
  /** In the event's head set: its place was within LIVE_HEAD_POSITIONS when last computed. */
  nearHead: boolean;
}

interface Followed {
  /** Settles when the line is loaded and the log tailed. */
  ready: Promise<void>;
  line: SeqRanks | null;
  bookings: Map<string, Watched>;
  /** Upgrades admitted for this event whose socket is not open yet; the event is followed while any exist. */
  pending: number;
  /** When bookings were served from the line recently (ms), oldest first; for the wait estimate. */
  servedAtMs: number[];
  /** Bookings served per second, as of the last round; null before anyone was served. */
  servedPerSecond: number | null;
  /** Bookings whose state changed since the last round. */
  changed: Set<Watched>;
  /** Waiting bookings near the head, updated at each round the line moved. */
  head: Set<Watched>;
  /** Someone left the line since the last round (head) and since the last full pass (every waiting booking). */
  headMoved: boolean;
  lineMoved: boolean;
  /** A followed booking's turn came: the next round is now, not LIVE_REFRESH_MS after the last. */
  turnDue: boolean;
  timer: NodeJS.Timeout | null;
  /** When the timer set fires (ms); infinite when none is set. */
  timerDueMs: number;
  lastRoundAtMs: number;
  lastFullPassAtMs: number;
  /** A full pass is sending every place, slice by slice. */
  passing: boolean;
}

/** The service rate is measured over this window. */
const RATE_WINDOW_MS = 60_000;
const SERVED_SAMPLES_MAX = 1000;
/** Bookings sent their place per slice of a full pass. */
const PASS_SLICE = 1000;

/** States only move forward (waiting, held, then an end; a late payment turns one end into another). */
const STATE_ORDER: Record<BookingState, number> = {
  waiting: 0,
  held: 1,
  paid: 2,
  expired: 2,
  cancelled: 2,
  refunded: 2,
};

export class Followers {
  private readonly followed = new Map<string, Followed>();
  private readonly tail: LogTail;
  private stopped = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.tail = new LogTail(config.redis, redis, log, (eventId, entries) => this.apply(eventId, entries));
  }

  /**
   * Counts one more pending upgrade for the event; the first loads its line and starts tailing
   * its log from where it ended before the load, seeding the service rate from its recent past.
   */
  async follow(eventId: string): Promise<void> {
    const known = this.followed.get(eventId);
    if (known) {
      known.pending += 1;
      return known.ready;
    }
    const followed: Followed = {
      ready: Promise.resolve(),
      line: null,
      bookings: new Map(),
      pending: 1,
      servedAtMs: [],
      servedPerSecond: null,
      changed: new Set(),
      head: new Set(),
      headMoved: false,
      lineMoved: false,
      turnDue: false,
      timer: null,
      timerDueMs: Number.POSITIVE_INFINITY,
      lastRoundAtMs: 0,
      lastFullPassAtMs: 0,
      passing: false,
    };
    followed.ready = this.start(eventId, followed).catch((error: unknown) => {
      if (this.followed.get(eventId) === followed) this.followed.delete(eventId);
      throw error;
    });
    this.followed.set(eventId, followed);
    return followed.ready;
  }

  private async start(eventId: string, followed: Followed): Promise<void> {
    const recent = (await this.redis.xrevrange(
      logKey(eventId),
      "+",
      Date.now() - RATE_WINDOW_MS,
      "COUNT",
      SERVED_SAMPLES_MAX,
    )) as [string, string[]][];
    // The log's end before the line is read: every change the load may have missed comes after it.
    const fromId = recent[0]?.[0] ?? (await lastLogId(this.redis, eventId)) ?? "0-0";
    followed.line = await loadLine(this.redis, eventId);
    for (const [id, fields] of recent.reverse()) noteServed(followed, decodeLogEntry(id, fields));
    followed.servedPerSecond = servedPerSecond(followed, Date.now());
    await this.tail.follow(eventId, fromId);
  }

  /**
   * Follows a booking of a followed event from now on, for one more pending upgrade. Call it
   * before reading the booking (then settle()), so no change between the read and the socket's
   * opening is missed.
   */
  watch(eventId: string, booking: Booking): Watched {
    const followed = this.followed.get(eventId)!;
    let watched = followed.bookings.get(booking.id);
    if (watched === undefined) {
      watched = {
        booking,
        seq: 0,
        sockets: [],
        pending: 0,
        logged: false,
        lastJson: "",
        sentPosition: 0,
        nearHead: false,
      };
      followed.bookings.set(booking.id, watched);
    }
    watched.pending += 1;
    return watched;
  }

  /**
   * The booking as read after watch(): kept unless the log has already brought it as far
   * (the tail may be behind the read or ahead of it; states only move forward).
   */
  settle(watched: Watched, read: Booking, seq: number): void {
    if (seq > 0) watched.seq = seq;
    if (!watched.logged || STATE_ORDER[read.status] > STATE_ORDER[watched.booking.status]) watched.booking = read;
  }

  /** A pending upgrade ended (refused or aborted) or a socket closed; the event is dropped when nobody follows it. */
  release(eventId: string, wasOpen: boolean, watched: Watched | null = null): void {
    const followed = this.followed.get(eventId);
    if (followed === undefined) return;
    if (!wasOpen) followed.pending -= 1;
    if (watched !== null && !wasOpen) watched.pending -= 1;
    if (watched !== null && watched.pending === 0 && watched.sockets.length === 0) {
      followed.bookings.delete(watched.booking.id);
      followed.head.delete(watched);
      followed.changed.delete(watched);
    }
    if (followed.pending === 0 && followed.bookings.size === 0) {
      this.followed.delete(eventId);
      if (followed.timer !== null) clearTimeout(followed.timer);
      this.tail.unfollow(eventId);
    }
  }

  /** A pending upgrade became an open socket: it is sent where its booking stands at once. */
  opened(ws: WebSocket<Follower>): void {
    const { eventId, watched } = ws.getUserData();
    const followed = this.followed.get(eventId)!;
    followed.pending -= 1;
    watched!.pending -= 1;
    watched!.sockets.push(ws);
    const json = this.messageJson(followed, watched!);
    if (json !== watched!.lastJson) this.send(watched!, json);
    else sendOne(ws, json);
  }

  closed(ws: WebSocket<Follower>): void {
    const { eventId, watched } = ws.getUserData();
    watched!.sockets = watched!.sockets.filter((other) => other !== ws);
    this.release(eventId, true, watched);
  }

  stop(): void {
    this.stopped = true;
    const sockets = [...this.followed.values()].flatMap((followed) =>
      [...followed.bookings.values()].flatMap((watched) => watched.sockets),
    );
    for (const followed of this.followed.values()) if (followed.timer !== null) clearTimeout(followed.timer);
    for (const ws of sockets) ws.end(1001, "server stopping");
    this.tail.stop();
  }

  /** A batch of changes of one event: applied to its line and to the bookings they name. */
  private apply(eventId: string, entries: RawLogEntry[]): void {
    const followed = this.followed.get(eventId);
    if (followed?.line == null) return;
    for (const [id, raw] of entries) {
      let entry: LogEntry;
      try {
        entry = decodeLogEntry(id, raw);
        if (applyToLine(followed.line, entry)) followed.headMoved = followed.lineMoved = true;
      } catch (error) {
        this.log.warn({ err: error, streamId: id, eventId }, "live: log entry skipped");
        continue;
      }
      noteServed(followed, entry);
      const watched = followed.bookings.get(entry.bookingId);
      if (watched !== undefined && STATE_ORDER[entry.status] >= STATE_ORDER[watched.booking.status]) {
        updateBooking(watched, entry);
        watched.logged = true;
        followed.changed.add(watched);
        if (entry.status === STATE.held) followed.turnDue = true;
      }
    }
    this.schedule(eventId, followed);
  }

  /** Sets the event's next round, if it has anything to push, at the earliest time its limits allow (sooner than one already set). */
  private schedule(eventId: string, followed: Followed): void {
    if (this.stopped) return;
    const { liveRefreshMs, livePositionIntervalMs } = this.config.limits;
    let dueMs = Number.POSITIVE_INFINITY;
    if (followed.changed.size > 0 || followed.headMoved) dueMs = followed.lastRoundAtMs + liveRefreshMs;
    if (followed.turnDue) dueMs = 0;
    // A full pass in progress schedules the next when it ends.
    if (followed.lineMoved && !followed.passing)
      dueMs = Math.min(dueMs, followed.lastFullPassAtMs + livePositionIntervalMs);
    if (dueMs >= followed.timerDueMs) return;
    if (followed.timer !== null) clearTimeout(followed.timer);
    followed.timerDueMs = dueMs;
    followed.timer = setTimeout(
      () => {
        followed.timer = null;
        followed.timerDueMs = Number.POSITIVE_INFINITY;
        if (this.followed.get(eventId) === followed) this.round(eventId, followed);
      },
      Math.max(0, dueMs - Date.now()),
    );
  }

  /** Pushes what changed: bookings whose state changed, places near the head, and starts a full pass over every place when one is due. */
  private round(eventId: string, followed: Followed): void {
    const nowMs = Date.now();
    followed.lastRoundAtMs = nowMs;
    followed.turnDue = false;
    followed.servedPerSecond = servedPerSecond(followed, nowMs);
    const due = new Set(followed.changed);
    followed.changed.clear();
    if (followed.headMoved) for (const watched of followed.head) due.add(watched);
    followed.headMoved = false;
    for (const watched of due) this.push(followed, watched);
    if (
      followed.lineMoved &&
      !followed.passing &&
      nowMs >= followed.lastFullPassAtMs + this.config.limits.livePositionIntervalMs
    ) {
      followed.lineMoved = false;
      followed.passing = true;
      const waiting = [...followed.bookings.values()].filter((watched) => watched.booking.status === STATE.waiting);
      this.pass(eventId, followed, waiting, 0);
    }
    this.schedule(eventId, followed);
  }

  /**
   * A full pass, PASS_SLICE bookings at a time with the event loop free between slices, so a
   * turn or a change near the head is pushed while a long line's places are still being sent.
   */
  private pass(eventId: string, followed: Followed, waiting: Watched[], from: number): void {
    if (this.stopped || this.followed.get(eventId) !== followed) return;
    const end = Math.min(waiting.length, from + PASS_SLICE);
    for (let i = from; i < end; i++) {
      const watched = waiting[i]!;
      // One whose sockets all closed since the pass began is not sent to (nor put back in the head set).
      if (followed.bookings.get(watched.booking.id) === watched && this.movedEnough(followed, watched))
        this.push(followed, watched);
    }
    if (end < waiting.length) {
      setImmediate(() => this.pass(eventId, followed, waiting, end));
      return;
    }
    // The next pass is an interval after this one ended: a pass that takes longer than the
    // interval (a long line, a busy process) leaves the process at least as long for the rest.
    followed.passing = false;
    followed.lastFullPassAtMs = Date.now();
    this.schedule(eventId, followed);
  }

  /** Sends the booking's message now, unless its sockets were last sent the same. */
  private push(followed: Followed, watched: Watched): void {
    const json = this.messageJson(followed, watched);
    if (json !== watched.lastJson) this.send(watched, json);
  }

  /** Whether a full pass sends this place: near the head always, further back once it moved LIVE_POSITION_STEP_PERCENT. */
  private movedEnough(followed: Followed, watched: Watched): boolean {
    const { sentPosition, seq } = watched;
    if (sentPosition === 0 || seq === 0 || sentPosition <= this.config.limits.liveHeadPositions) return true;
    return !placeStillTrue(sentPosition, followed.line!.rankOf(seq), this.config.limits);
  }

  /** The booking's message now; a waiting one's place is its rank in the line, and it joins or leaves the head set. */
  private messageJson(followed: Followed, watched: Watched): string {
    const { booking } = watched;
    const waiting = booking.status === STATE.waiting;
    // A sequence the hash no longer had (0) keeps the place read at admission.
    if (waiting && watched.seq > 0) booking.position = Math.max(1, followed.line!.rankOf(watched.seq));
    const nearHead = waiting && booking.position <= this.config.limits.liveHeadPositions;
    if (nearHead !== watched.nearHead) {
      watched.nearHead = nearHead;
      if (nearHead) followed.head.add(watched);
      else followed.head.delete(watched);
    }
    const view = bookingView(booking, this.config.http.publicUrl, Date.now());
    if (view.status === STATE.waiting) {
      const rate = followed.servedPerSecond;
      const estimatedWaitSeconds = rate === null ? null : Math.ceil(booking.position / rate);
      return JSON.stringify({ type: "position", ...view, estimatedWaitSeconds });
    }
    return JSON.stringify({ type: view.status === STATE.held ? "turn" : "status", ...view });
  }

  private send(watched: Watched, json: string): void {
    watched.lastJson = json;
    watched.sentPosition = watched.booking.status === STATE.waiting ? watched.booking.position : 0;
    for (const ws of watched.sockets) sendOne(ws, json);
  }
}

/**
 * Whether a place sent to a socket still stands for the place it now has: exactly near the head
 * (LIVE_HEAD_POSITIONS); further back, until it moved by LIVE_POSITION_STEP_PERCENT of it.
 */
export function placeStillTrue(sent: number, now: number, limits: Limits): boolean {
  if (sent === now) return true;
  if (sent <= limits.liveHeadPositions) return false;
  return Math.abs(sent - now) < Math.max(1, Math.floor((sent * limits.livePositionStepPercent) / 100));
}

function sendOne(ws: WebSocket<Follower>, json: string): void {
  ws.send(json);
  metrics.liveMessages.inc();
}

/** The booking as the entry says it now stands; its token and (while waiting) its place are kept. */
function updateBooking(watched: Watched, entry: LogEntry): void {
  const { booking } = watched;
  booking.status = entry.status;
  booking.quantity = entry.quantity;
  booking.expiresAtMs = entry.expiresAtMs;
  booking.amount = entry.amount;
  booking.currency = entry.currency;
  booking.reason = entry.reason;
  if (entry.status !== STATE.waiting) booking.position = 0;
  if (entry.arrivalSeq > 0) watched.seq = entry.arrivalSeq;
}

/** Bookings served per second over the recent window; null before anyone was served. */
function servedPerSecond(followed: Followed, nowMs: number): number | null {
  const served = followed.servedAtMs.filter((atMs) => atMs > nowMs - RATE_WINDOW_MS);
  if (served.length === 0) return null;
  const spanMs = Math.max(1000, nowMs - served[0]!);
  return served.length / (spanMs / 1000);
}

function noteServed(followed: Followed, entry: LogEntry): void {
  if (entry.status !== STATE.held || entry.reason !== "served") return;
  followed.servedAtMs.push(entry.atMs);
  if (followed.servedAtMs.length > SERVED_SAMPLES_MAX) followed.servedAtMs.shift();
}
