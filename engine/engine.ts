import { isCluster, type RedisClient } from "./redis.js";
import type { Config } from "./config.js";
import { EngineError } from "./errors.js";
import { gateRefusal, type Gate } from "./admission.js";
import {
  cancelArgs,
  confirmArgs,
  decodeCancel,
  decodeConfirm,
  decodeHold,
  decodeHoldBatch,
  decodeLoad,
  decodeLookup,
  decodeRecover,
  decodeSweep,
  HOLD_KINDS,
  holdArgs,
  holdBatchArgs,
  loadArgs,
  lookupArgs,
  recoverArgs,
  scriptSettings,
  sweepArgs,
  type Arg,
  type Booking,
  type CancelInput,
  type CancelKind,
  type ConfirmOutcome,
  type HoldInput,
  type HoldKind,
  type KnownInDb,
  type RecoverResult,
  type ScriptSettings,
  type SweepResult,
} from "./commands.js";
import { HoldBatcher } from "./holdBatch.js";
import { bookingToken, newBookingSecret, parseBookingToken, uuidv7 } from "./ids.js";
import { bookingKey, eventKey, eventKeys, liveEventsKey, type EventKeys } from "./keys.js";
import { metrics } from "./metrics.js";
import { BOOKING, EVENT } from "./schema.js";
import { SoldOutMemo } from "./soldOutMemo.js";
import { defineScripts, directScript, type ScriptCommands, type ScriptReply } from "./scripts.js";

export type { Booking, ConfirmOutcome, HoldKind, KnownInDb, RecoverResult, SweepResult } from "./commands.js";

export interface HoldRequest {
  eventId: string;
  userId: string;
  quantity: number;
  email: string;
  idempotencyKey: string;
  /** A client's request passes the anti-bot gate; absent for internal callers (tests, benchmarks). */
  gate?: Gate;
  /**
   * The request proved it is this userId (a verified signed identity). Only then does a
   * refusal for the person's open booking name that booking. Absent means false.
   */
  identityVerified?: boolean;
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
export const DISPLAY_FIELDS = [EVENT.name, EVENT.venue, EVENT.startsAt, EVENT.timeZone] as const;

export interface LiveEvent {
  instock: number;
  held: number;
  paid: number;
  capacity: number;
  fields: Record<string, string>;
}

const KEYS_CACHE_MAX = 10_000;
/** The sold-out refusal the memo answers: one object, as cheap to throw as to answer (http/exchange.ts keeps its reply). */
const SOLD_OUT = new EngineError("SOLD_OUT", "");
/** The count of each kind of hold answer, looked up once: counting one is then a plain increment. */
const HOLD_OUTCOMES = new Map(HOLD_KINDS.map((kind) => [kind, metrics.bookingOutcomes.tally({ outcome: kind })]));
const HOLD_TIMING = metrics.scriptSeconds.timing("hold");

/** The domain core: every change to live inventory is one Lua script call. */
export class Engine {
  readonly redis: RedisClient;
  /** The scripts, with this process's settings written in. */
  private readonly scripts: ScriptCommands;
  private readonly keysCache = new Map<string, EventKeys>();
  private readonly batcher: HoldBatcher | null;
  /** What every script call of this process sends from the config. */
  private readonly settings: ScriptSettings;
  private readonly soldOut: SoldOutMemo;
  /** lua/hold.lua, sent the cheapest way the connection allows: it runs once per booking request. */
  private readonly holdScript: (...args: Arg[]) => Promise<ScriptReply>;

  constructor(
    redis: RedisClient,
    readonly config: Config,
  ) {
    this.redis = redis;
    this.settings = scriptSettings(config);
    this.scripts = defineScripts(redis, this.settings);
    this.holdScript = directScript(redis, "hold", this.settings);
    this.soldOut = new SoldOutMemo(config.limits.soldOutMemoMs);
    this.batcher = config.holds.batch.enabled
      ? new HoldBatcher((eventId, requests) => this.holdBatch(eventId, requests), config.holds.batch)
      : null;
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
    const { eventId, quantity, idempotencyKey } = request;
    // A replay must still find its booking, so a request with an Idempotency-Key always asks Redis.
    if (idempotencyKey === "" && this.soldOut.refuses(eventId, quantity, nowMs)) throw SOLD_OUT;
    const input: HoldInput = {
      bookingId: uuidv7(nowMs),
      secret: newBookingSecret(),
      userId: request.userId,
      quantity,
      email: request.email,
      idempotencyKey,
      gate: request.gate,
      identityVerified: request.identityVerified === true,
    };
    const mark = this.soldOut.mark();
    let reply: ScriptReply;
    if (this.batcher !== null) reply = await this.batcher.hold(eventId, input);
    else {
      // Timed here, not through timed(): no closure on the path every booking takes.
      const startedMs = performance.now();
      try {
        reply = await this.holdScript(...holdArgs(this.keys(eventId), nowMs, input));
      } finally {
        HOLD_TIMING.since(startedMs);
      }
    }
    let held: Booking & { kind: HoldKind };
    try {
      held = decodeHold(eventId, reply);
    } catch (error) {
      if (error instanceof EngineError && error.code === "SOLD_OUT")
        this.soldOut.remember(eventId, quantity, nowMs, mark);
      throw gateRefusal(error, request.gate);
    }
    HOLD_OUTCOMES.get(held.kind)!.inc();
    return held;
  }

  /** One lua/hold_batch.lua call for holds of one event, in the order given. */
  private async holdBatch(eventId: string, requests: HoldInput[]): Promise<ScriptReply[]> {
    const startedMs = performance.now();
    try {
      const reply = await this.scripts.hold_batch(...holdBatchArgs(this.keys(eventId), Date.now(), requests));
      return decodeHoldBatch(reply, requests.length);
    } finally {
      metrics.scriptSeconds.timing("hold_batch").since(startedMs);
    }
  }

  /** Reads a booking for the holder of its token; a wrong token reads as not found. */
  async status(bookingId: string, token: string): Promise<Booking> {
    const parsed = parseBookingToken(token);
    if (parsed === null) throw new EngineError("BOOKING_NOT_FOUND", "");
    const { eventId, secret } = parsed;
    const reply = await this.timed("lookup", () => this.scripts.lookup(...lookupArgs({ eventId, bookingId, secret })));
    return decodeLookup(eventId, reply);
  }

  /** The person cancels a waiting or held booking with its token. */
  async cancel(bookingId: string, token: string, nowMs = Date.now()): Promise<Booking> {
    const parsed = parseBookingToken(token);
    if (parsed === null) throw new EngineError("BOOKING_NOT_FOUND", "");
    return this.end(parsed.eventId, bookingId, parsed.secret, "user", nowMs);
  }

  /** The token of a booking still in Redis, for messages that must carry it (the payment link); null once gone. */
  async tokenOf(eventId: string, bookingId: string): Promise<string | null> {
    const secret = await this.redis.hget(bookingKey(eventId, bookingId), BOOKING.token);
    return secret === null ? null : bookingToken(eventId, secret);
  }

  /** The payment failed or its checkout expired: the hold ends at once. */
  async release(
    eventId: string,
    bookingId: string,
    reason: "payment_failed" | "checkout_expired",
    nowMs = Date.now(),
  ): Promise<Booking & { kind: CancelKind }> {
    return this.end(eventId, bookingId, "", reason, nowMs);
  }

  private async end(eventId: string, bookingId: string, secret: string, reason: CancelInput["reason"], nowMs: number) {
    const args = cancelArgs(this.keys(eventId), nowMs, { bookingId, secret, reason });
    return decodeCancel(eventId, await this.timed("cancel", () => this.scripts.cancel(...args)));
  }

  async confirm(
    eventId: string,
    bookingId: string,
    paymentRef: string,
    amount: number,
    currency: string,
    nowMs = Date.now(),
  ): Promise<Booking & { kind: ConfirmOutcome }> {
    const args = confirmArgs(this.keys(eventId), nowMs, { bookingId, paymentRef, amount, currency });
    const booking = decodeConfirm(eventId, await this.timed("confirm", () => this.scripts.confirm(...args)));
    await this.waitForReplicas();
    return booking;
  }

  /**
   * With REDIS_CONFIRM_WAIT_REPLICAS, waits until that many replicas have the payment (or the
   * timeout passes: the payment stays applied, and PostgreSQL has its fact for a failover).
   * One Redis with replicas only: a Cluster's WAIT would have to go to the event's primary.
   */
  private async waitForReplicas(): Promise<void> {
    const { replicas, timeoutMs } = this.config.redis.confirmWait;
    if (replicas === 0 || isCluster(this.redis)) return;
    const acked = (await this.redis.wait(replicas, timeoutMs)) as number;
    if (acked < replicas) metrics.confirmWaitShort.inc();
  }

  /** Reclaims expired holds and serves the line of one event; null if the event is not live. */
  async sweep(eventId: string, nowMs = Date.now()): Promise<SweepResult | null> {
    const args = sweepArgs(this.keys(eventId), nowMs);
    return decodeSweep(await this.timed("sweep", () => this.scripts.sweep(...args)));
  }

  /** Makes an event live, or refreshes its settings without touching live inventory. */
  async loadEvent(event: EventRecord, paidInDb: number, options = { display: true }): Promise<LiveEvent> {
    const fields: Arg[] = [
      EVENT.status,
      event.status,
      EVENT.version,
      event.version,
      EVENT.price,
      event.price,
      EVENT.currency,
      event.currency.toLowerCase(),
      EVENT.maxPerUser,
      event.maxPerUser,
      EVENT.saleStartsAtMs,
      event.saleStartsAt?.getTime() ?? 0,
      EVENT.saleEndsAtMs,
      event.saleEndsAt?.getTime() ?? 0,
      EVENT.powBits,
      event.powBits,
      EVENT.holdMs,
      event.holdSeconds * 1000,
      ...(options.display ? displayFields(event) : []),
    ];
    // Forgotten once the change is made: an answer to a hold sent before then may predate it.
    try {
      decodeLoad(
        await this.scripts.load(...loadArgs(this.keys(event.id), { capacity: event.capacity, paidInDb, fields })),
      );
    } finally {
      this.soldOut.forget(event.id);
    }
    await this.redis.sadd(liveEventsKey, event.id);
    return this.liveEvent(event.id) as Promise<LiveEvent>;
  }

  /**
   * Raises paid tickets, counters and per-person tallies to what PostgreSQL knows, and makes
   * paid again the bookings applied payment facts say are paid (after a Redis loss).
   */
  async recover(eventId: string, known: KnownInDb, nowMs = Date.now()): Promise<RecoverResult> {
    const args = recoverArgs(this.keys(eventId), nowMs, known);
    try {
      return decodeRecover(await this.timed("recover", () => this.scripts.recover(...args)));
    } finally {
      this.soldOut.forget(eventId);
    }
  }

  /** Caches display fields read from PostgreSQL (cache-aside) on a live event. */
  async cacheDisplay(event: EventRecord): Promise<void> {
    const key = eventKey(event.id);
    // Only on a live event: a display cache must never create an event without inventory.
    if ((await this.redis.hexists(key, EVENT.status)) === 1) await this.redis.hset(key, ...displayFields(event));
  }

  /** Drops cached display fields; inventory and settings stay. */
  async flushDisplay(eventId: string): Promise<void> {
    await this.redis.hdel(eventKey(eventId), ...DISPLAY_FIELDS);
  }

  async liveEvent(eventId: string): Promise<LiveEvent | null> {
    const fields = await this.redis.hgetall(eventKey(eventId));
    if (fields[EVENT.status] === undefined) return null;
    return {
      instock: Number(fields[EVENT.instock]),
      held: Number(fields[EVENT.held]),
      paid: Number(fields[EVENT.paid]),
      capacity: Number(fields[EVENT.capacity]),
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
    const startedMs = performance.now();
    try {
      return await call();
    } finally {
      metrics.scriptSeconds.timing(script).since(startedMs);
    }
  }
}

function displayFields(event: EventRecord): string[] {
  return [
    EVENT.name,
    event.name,
    EVENT.venue,
    event.venue,
    EVENT.startsAt,
    event.startsAt.toISOString(),
    EVENT.timeZone,
    event.timeZone,
  ];
}
