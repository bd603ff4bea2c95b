import type { RedisClient } from "./redis.js";
import type { Config } from "./config.js";
import { EngineError, isEngineErrorCode } from "./errors.js";
import { gateArgs, throwIfGateRefused, type Gate } from "./admission.js";
import { HoldBatcher, type BookingArgs, type HoldArgs } from "./holdBatch.js";
import { bookingToken, newBookingSecret, parseBookingToken, uuidv7 } from "./ids.js";
import { bookingKey, eventKey, eventKeys, lineKey, liveEventsKey, type EventKeys } from "./keys.js";
import { metrics } from "./metrics.js";
import { defineScripts, type ScriptCommands, type ScriptReply } from "./scripts.js";

export type BookingStatus = "waiting" | "held" | "paid" | "expired" | "cancelled" | "refunded";

/** A booking as its holder sees it. */
export interface Booking {
  id: string;
  eventId: string;
  userId: string;
  quantity: number;
  status: BookingStatus;
  /** When the hold ends; 0 when not held. */
  expiresAtMs: number;
  /** 1-based place in the waiting line; 0 when not waiting. */
  position: number;
  token: string;
  amount: number;
  currency: string;
  reason: string;
}

export type HoldKind = "held" | "waiting" | "replay";
export type ConfirmOutcome = "paid" | "late_paid" | "duplicate" | "refund" | "mismatch";

export interface HoldRequest {
  eventId: string;
  userId: string;
  quantity: number;
  email: string;
  idempotencyKey: string;
  /** A client's request passes the anti-bot gate; absent for internal callers (tests, benchmarks). */
  gate?: Gate;
}

/** An event's settings and display fields, as PostgreSQL holds them. */
export interface EventRecord {
  id: string;
  name: string;
  venue: string;
  startsAt: Date;
  timeZone: string;
  capacity: number;
  price: number;
  currency: string;
  maxPerUser: number;
  saleStartsAt: Date | null;
  saleEndsAt: Date | null;
  status: "on_sale" | "closed";
  version: number;
  /** Proof-of-work asked of each booking, in leading zero bits; 0 = none. */
  powBits: number;
  /** How long this event's holds last; 0 = the engine's HOLD_SECONDS. */
  holdSeconds: number;
}

/** Fields of event:{E} that are display data, cached from PostgreSQL; `cache flush` drops only these. */
export const DISPLAY_FIELDS = ["name", "venue", "starts_at", "time_zone"] as const;

export interface LiveEvent {
  instock: number;
  held: number;
  paid: number;
  capacity: number;
  fields: Record<string, string>;
}

/** What PostgreSQL knows of an event's bookings, for restoring Redis after a loss. */
export interface KnownInDb {
  paid: number;
  maxArrivalSeq: number;
  maxHoldSeq: number;
  /** The relay's offset in the same snapshot: PostgreSQL has every log entry up to it. */
  relayedUpTo: string;
  /** External user id and that person's paid tickets. */
  paidByUser: [string, number][];
}

export interface RecoverResult {
  /** The log has entries PostgreSQL lacks yet: nothing was written. */
  relayBehind: boolean;
  paidAdded: number;
  countersRaised: number;
  talliesRaised: number;
}

export interface SweepResult {
  reclaimed: number;
  served: number;
  dropped: number;
  lineLength: number;
  holdCount: number;
  /** The sale is over and nothing is held or waiting: no sweep is needed until the event is loaded again. */
  finished: boolean;
}

const KEYS_CACHE_MAX = 10_000;

/** The domain core: every change to live inventory is one Lua script call. */
export class Engine {
  readonly redis: RedisClient & ScriptCommands;
  private readonly keysCache = new Map<string, EventKeys>();
  private readonly batcher: HoldBatcher | null;
  /**
   * The settings both hold scripts read as one run of ARGV (hold.lua's 9–17, hold_batch.lua's
   * 3–11): idempotencyTtlMs, reclaimMax, serveMax, lineMax, retentionMs, then the token
   * buckets' ipPerS, ipBurst, userPerS, userBurst. Fixed per process, so built once.
   */
  private readonly holdSettings: number[];

  constructor(
    redis: RedisClient,
    readonly config: Config,
  ) {
    this.redis = defineScripts(redis);
    const { limits } = config;
    this.holdSettings = [
      config.idempotencyTtlMs, config.reclaimMax, config.serveMax, limits.lineMax, config.retentionMs,
      limits.rateIpPerS, limits.rateIpBurst, limits.rateUserPerS, limits.rateUserBurst,
    ];
    this.batcher = config.holdBatch.enabled ? new HoldBatcher((eventId, requests) => this.holdBatch(eventId, requests), config.holdBatch) : null;
  }

  private keys(eventId: string): EventKeys {
    let keys = this.keysCache.get(eventId);
    if (keys === undefined) {
      if (this.keysCache.size >= KEYS_CACHE_MAX) this.keysCache.clear();
      keys = eventKeys(eventId);
      this.keysCache.set(eventId, keys);
    }
    return keys;
  }

  async hold(request: HoldRequest, nowMs = Date.now()): Promise<Booking & { kind: HoldKind }> {
    const { config } = this;
    const booking: BookingArgs = [uuidv7(nowMs), newBookingSecret(), request.userId, request.quantity, request.email, request.idempotencyKey];
    const gate = gateArgs(request.gate);
    const reply =
      this.batcher !== null
        ? await this.batcher.hold(request.eventId, [...booking, ...gate])
        : await this.timed("hold", () =>
            this.redis.hold(
              ...this.keys(request.eventId),
              nowMs,
              config.holdMs,
              ...booking,
              ...this.holdSettings,
              ...gate,
            ),
          );
    throwIfGateRefused(reply, request.gate);
    const held = parseBooking(request.eventId, reply);
    metrics.bookingOutcomes.inc({ outcome: held.kind });
    return held as Booking & { kind: HoldKind };
  }

  /** One lua/hold_batch.lua call for holds of one event, in the order given. */
  private async holdBatch(eventId: string, requests: HoldArgs[]): Promise<ScriptReply[]> {
    const { config } = this;
    const end = metrics.scriptSeconds.startTimer({ script: "hold_batch" });
    try {
      return await this.redis.hold_batch(
        ...this.keys(eventId),
        Date.now(),
        config.holdMs,
        ...this.holdSettings,
        requests.length,
        ...requests.flat(),
      );
    } finally {
      end();
    }
  }

  /** Reads a booking for the holder of its token; a wrong token reads as not found. */
  async status(bookingId: string, token: string): Promise<Booking> {
    const parsed = parseBookingToken(token);
    if (parsed === null) throw new EngineError("BOOKING_NOT_FOUND", "");
    const { eventId, secret } = parsed;
    const reply = await this.timed("lookup", () =>
      this.redis.lookup(bookingKey(eventId, bookingId), lineKey(eventId), secret, bookingId),
    );
    return parseBooking(eventId, reply);
  }

  /** The person cancels a waiting or held booking with its token. */
  async cancel(bookingId: string, token: string, nowMs = Date.now()): Promise<Booking> {
    const parsed = parseBookingToken(token);
    if (parsed === null) throw new EngineError("BOOKING_NOT_FOUND", "");
    return this.end(parsed.eventId, bookingId, parsed.secret, "user", nowMs);
  }

  /** The token of a booking still in Redis, for messages that must carry it (the payment link); null once gone. */
  async tokenOf(eventId: string, bookingId: string): Promise<string | null> {
    const secret = await this.redis.hget(bookingKey(eventId, bookingId), "token");
    return secret === null ? null : bookingToken(eventId, secret);
  }

  /** The payment failed or its checkout expired: the hold ends at once. */
  async release(
    eventId: string,
    bookingId: string,
    reason: "payment_failed" | "checkout_expired",
    nowMs = Date.now(),
  ): Promise<Booking & { kind: "cancelled" | "unchanged" }> {
    return (await this.end(eventId, bookingId, "", reason, nowMs)) as Booking & {
      kind: "cancelled" | "unchanged";
    };
  }

  private async end(eventId: string, bookingId: string, secret: string, reason: string, nowMs: number) {
    const { config } = this;
    const reply = await this.timed("cancel", () =>
      this.redis.cancel(
        ...this.keys(eventId),
        nowMs,
        config.holdMs,
        bookingId,
        secret,
        reason,
        config.reclaimMax,
        config.serveMax,
        config.retentionMs,
      ),
    );
    return parseBooking(eventId, reply);
  }

  async confirm(
    eventId: string,
    bookingId: string,
    paymentRef: string,
    amount: number,
    currency: string,
    nowMs = Date.now(),
  ): Promise<Booking & { kind: ConfirmOutcome }> {
    const { config } = this;
    const reply = await this.timed("confirm", () =>
      this.redis.confirm(
        ...this.keys(eventId),
        nowMs,
        config.holdMs,
        bookingId,
        paymentRef,
        amount,
        currency.toLowerCase(),
        config.reclaimMax,
        config.serveMax,
        config.retentionMs,
      ),
    );
    return parseBooking(eventId, reply) as Booking & { kind: ConfirmOutcome };
  }

  /** Reclaims expired holds and serves the line of one event; null if the event is not live. */
  async sweep(eventId: string, nowMs = Date.now()): Promise<SweepResult | null> {
    const { config } = this;
    const reply = (await this.timed("sweep", () =>
      this.redis.sweep(
        ...this.keys(eventId),
        nowMs,
        config.holdMs,
        config.reclaimMax,
        config.serveMax,
        config.retentionMs,
      ),
    )) as number[];
    if (reply[0] === -1) return null;
    const [reclaimed, served, dropped, lineLength, holdCount, finished] = reply as [number, number, number, number, number, number];
    return { reclaimed, served, dropped, lineLength, holdCount, finished: finished === 1 };
  }

  /** Makes an event live, or refreshes its settings without touching live inventory. */
  async loadEvent(event: EventRecord, paidInDb: number, options = { display: true }): Promise<LiveEvent> {
    const fields: (string | number)[] = [
      "status", event.status,
      "version", event.version,
      "price", event.price,
      "currency", event.currency.toLowerCase(),
      "max_per_user", event.maxPerUser,
      "sale_starts_at", event.saleStartsAt?.getTime() ?? 0,
      "sale_ends_at", event.saleEndsAt?.getTime() ?? 0,
      "pow_bits", event.powBits,
      "hold_ms", event.holdSeconds * 1000,
      ...(options.display ? displayFields(event) : []),
    ];
    const reply = await this.redis.load(...this.keys(event.id), event.capacity, paidInDb, ...fields);
    throwIfError(reply);
    await this.redis.sadd(liveEventsKey, event.id);
    return this.liveEvent(event.id) as Promise<LiveEvent>;
  }

  /** Raises paid tickets, counters and per-person tallies to what PostgreSQL knows (after a Redis loss). */
  async recover(eventId: string, known: KnownInDb): Promise<RecoverResult> {
    const pairs = known.paidByUser.flatMap(([user, paid]) => [user, paid]);
    const reply = await this.timed("recover", () =>
      this.redis.recover(...this.keys(eventId), known.paid, known.maxArrivalSeq, known.maxHoldSeq, known.relayedUpTo, ...pairs),
    );
    if (reply[0] === "behind") return { relayBehind: true, paidAdded: 0, countersRaised: 0, talliesRaised: 0 };
    throwIfError(reply);
    return { relayBehind: false, paidAdded: Number(reply[1]), countersRaised: Number(reply[2]), talliesRaised: Number(reply[3]) };
  }

  /** Caches display fields read from PostgreSQL (cache-aside) on a live event. */
  async cacheDisplay(event: EventRecord): Promise<void> {
    const key = eventKey(event.id);
    // Only on a live event: a display cache must never create an event without inventory.
    if ((await this.redis.hexists(key, "status")) === 1) await this.redis.hset(key, ...displayFields(event));
  }

  /** Drops cached display fields; inventory and settings stay. */
  async flushDisplay(eventId: string): Promise<void> {
    await this.redis.hdel(eventKey(eventId), ...DISPLAY_FIELDS);
  }

  async liveEvent(eventId: string): Promise<LiveEvent | null> {
    const fields = await this.redis.hgetall(eventKey(eventId));
    if (fields.status === undefined) return null;
    return {
      instock: Number(fields.instock),
      held: Number(fields.held),
      paid: Number(fields.paid),
      capacity: Number(fields.capacity),
      fields,
    };
  }

  liveEventIds(): Promise<string[]> {
    return this.redis.smembers(liveEventsKey);
  }

  /** Drops events whose hash is gone (deleted, or lost with Redis) from the set the sweep walks. */
  async forgetLiveEvents(eventIds: string[]): Promise<void> {
    if (eventIds.length > 0) await this.redis.srem(liveEventsKey, ...eventIds);
  }

  private async timed(script: string, call: () => Promise<ScriptReply>): Promise<ScriptReply> {
    const end = metrics.scriptSeconds.startTimer({ script });
    try {
      return await call();
    } finally {
      end();
    }
  }
}

function displayFields(event: EventRecord): string[] {
  return ["name", event.name, "venue", event.venue, "starts_at", event.startsAt.toISOString(), "time_zone", event.timeZone];
}

function throwIfError(reply: ScriptReply): void {
  const code = String(reply[0]);
  if (code === "ok") return;
  if (isEngineErrorCode(code)) throw new EngineError(code, String(reply[1] ?? ""));
  throw new Error(`script answered an unknown code: ${code}`);
}

function parseBooking(eventId: string, reply: ScriptReply): Booking & { kind: string } {
  throwIfError(reply);
  return {
    kind: String(reply[1]),
    id: String(reply[2]),
    eventId,
    status: String(reply[3]) as BookingStatus,
    quantity: Number(reply[4]),
    expiresAtMs: Number(reply[5]),
    position: Number(reply[6]),
    token: bookingToken(eventId, String(reply[7])),
    userId: String(reply[8]),
    amount: Number(reply[9]),
    currency: String(reply[10]),
    reason: String(reply[11] ?? ""),
  };
}
