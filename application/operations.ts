import type { RedisClient } from "../engine/redis.js";
import { lastLogId } from "../engine/eventLog.js";
import type { Engine, KnownInDb, RecoverResult } from "../engine/engine.js";
import { EngineError } from "../engine/errors.js";
import { bookingKey, eventKey } from "../engine/keys.js";
import type { Logger } from "../engine/logger.js";
import { BOOKING, STATE } from "../engine/schema.js";
import type { Pool } from "../sql/db.js";
import { selectEvent } from "../sql/events.js";
import { knownInDb, onSaleEventIds } from "../sql/operations.js";
import { reopenPayments } from "../sql/payments.js";

// Operator commands behind `onsale cache warm|flush`, `onsale reconcile` and the admin routes.
// Inventory comes from PostgreSQL as capacity − paid − live holds: lua/load.lua never
// clobbers a live instock, and lua/recover.lua only raises what Redis lost.

/** Most events one warm or reconcile run walks. */
const OPS_EVENTS_MAX = 100_000;

export type Progress = (done: number, total: number) => void;

export interface WarmResult {
  eventId: string;
  instock: number;
  held: number;
  paid: number;
  capacity: number;
  recover: RecoverResult;
}

type DriftKind =
  | "missing" // on sale in PostgreSQL, not live in Redis
  | "settings" // capacity, price, limits, sale window, status, proof-of-work or hold length differ
  | "display" // cached display fields differ from PostgreSQL (stale cache)
  | "paid_lost" // Redis counts fewer paid tickets than PostgreSQL
  | "paid_unrelayed" // Redis counts more paid tickets, with nothing left to relay
  | "payment_lost" // an applied payment's booking is not paid in Redis (lost with it, or a stale replica)
  | "counters" // arrival or hold counter below PostgreSQL's highest
  | "invariant"; // instock + held + paid != capacity

export interface EventDrift {
  eventId: string;
  drift: { kind: DriftKind; redis: string; postgres: string }[];
  repaired: boolean;
}

export class Operations {
  constructor(
    private readonly pool: Pool,
    private readonly engine: Engine,
    private readonly log: Logger,
  ) {}

  private get redis(): RedisClient {
    return this.engine.redis;
  }

  /** The events a `--on-sale` run covers, or the one named (404 if PostgreSQL has no such event). */
  async targets(eventId: string | null): Promise<string[]> {
    if (eventId === null) return onSaleEventIds(this.pool, OPS_EVENTS_MAX);
    if ((await selectEvent(this.pool, eventId)) === null) throw new EngineError("EVENT_NOT_FOUND", "");
    return [eventId];
  }

  /** Loads one event's settings, display fields and inventory from PostgreSQL, keeping a live instock. */
  async warm(eventId: string): Promise<WarmResult> {
    const event = await selectEvent(this.pool, eventId);
    if (event === null) throw new EngineError("EVENT_NOT_FOUND", "");
    const known = await knownInDb(this.pool, eventId, await lastLogId(this.redis, eventId));
    await this.engine.loadEvent(event, known.paid);
    const recover = await this.engine.recover(eventId, known);
    if (recover.unrestored.length > 0) {
      // Paid for, but no stock is left or nobody is known: the repair pass applies each payment
      // again, and the engine, finding no booking to give it, refunds it.
      await reopenPayments(this.pool, eventId, recover.unrestored);
      this.log.warn({ eventId, bookingIds: recover.unrestored }, "paid bookings not restored; their payments go back");
    }
    const live = (await this.engine.liveEvent(eventId))!;
    this.log.info({ eventId, instock: live.instock, held: live.held, paid: live.paid, ...recover }, "cache warmed");
    return { eventId, instock: live.instock, held: live.held, paid: live.paid, capacity: live.capacity, recover };
  }

  async warmAll(eventIds: string[], progress: Progress = () => undefined): Promise<WarmResult[]> {
    const results: WarmResult[] = [];
    for (const eventId of eventIds) {
      results.push(await this.warm(eventId));
      progress(results.length, eventIds.length);
    }
    return results;
  }

  /** Drops the cached display fields only; inventory and settings stay. */
  async flush(eventId: string): Promise<void> {
    await this.engine.flushDisplay(eventId);
    this.log.info({ eventId }, "display cache flushed");
  }

  /** Compares one event in Redis with PostgreSQL; with repair, warms it and compares again. */
  async reconcile(eventId: string, repair: boolean): Promise<EventDrift> {
    const drift = await this.compare(eventId);
    if (!repair || drift.length === 0) return { eventId, drift, repaired: false };
    await this.warm(eventId);
    const left = await this.compare(eventId);
    if (left.length > 0) this.log.warn({ eventId, left }, "drift left after repair");
    return { eventId, drift, repaired: left.length === 0 };
  }

  async reconcileAll(eventIds: string[], repair: boolean, progress: Progress = () => undefined): Promise<EventDrift[]> {
    const results: EventDrift[] = [];
    for (const eventId of eventIds) {
      results.push(await this.reconcile(eventId, repair));
      progress(results.length, eventIds.length);
    }
    return results;
  }

  private async compare(eventId: string): Promise<EventDrift["drift"]> {
    const event = await selectEvent(this.pool, eventId);
    if (event === null) throw new EngineError("EVENT_NOT_FOUND", "");
    const last = await lastLogId(this.redis, eventId);
    const known = await knownInDb(this.pool, eventId, last);
    const fields = await this.redis.hgetall(eventKey(eventId));
    const lost = await this.paymentsLost(eventId, known);
    if (fields.status === undefined || fields.instock === undefined) {
      return event.status === "on_sale"
        ? [{ kind: "missing", redis: "absent", postgres: `capacity ${event.capacity}, paid ${known.paid}` }, ...lost]
        : lost;
    }
    const drift: EventDrift["drift"] = [...lost];
    const n = (name: string) => Number(fields[name] ?? 0);
    const settings = (redis: (string | number)[], postgres: (string | number)[]) => {
      if (redis.join() !== postgres.join())
        drift.push({ kind: "settings", redis: redis.join(" "), postgres: postgres.join(" ") });
    };
    settings(
      [
        n("capacity"),
        n("price"),
        fields.currency ?? "",
        fields.status,
        n("max_per_user"),
        n("sale_starts_at"),
        n("sale_ends_at"),
        n("pow_bits"),
        n("hold_ms"),
      ],
      [
        event.capacity,
        event.price,
        event.currency.toLowerCase(),
        event.status,
        event.maxPerUser,
        event.saleStartsAt?.getTime() ?? 0,
        event.saleEndsAt?.getTime() ?? 0,
        event.powBits,
        event.holdSeconds * 1000,
      ],
    );
    const cachedDisplay = [fields.name, fields.venue, fields.starts_at, fields.time_zone];
    if (
      cachedDisplay.some((v) => v !== undefined) &&
      cachedDisplay.join("|") !== [event.name, event.venue, event.startsAt.toISOString(), event.timeZone].join("|")
    ) {
      drift.push({
        kind: "display",
        redis: cachedDisplay.join(" | "),
        postgres: [event.name, event.venue, event.startsAt.toISOString(), event.timeZone].join(" | "),
      });
    }
    if (n("instock") + n("held") + n("paid") !== n("capacity") || n("instock") < 0 || n("held") < 0 || n("paid") < 0) {
      drift.push({
        kind: "invariant",
        redis: `instock ${n("instock")} + held ${n("held")} + paid ${n("paid")} vs capacity ${n("capacity")}`,
        postgres: "",
      });
    }
    // PostgreSQL lags Redis by the relay: compare counts only when the log is fully relayed.
    const relayed = last === null || last === known.relayedUpTo;
    if (relayed && n("paid") < known.paid)
      drift.push({ kind: "paid_lost", redis: String(n("paid")), postgres: String(known.paid) });
    if (relayed && n("paid") > known.paid)
      drift.push({ kind: "paid_unrelayed", redis: String(n("paid")), postgres: String(known.paid) });
    if (n("next_seq") < known.maxArrivalSeq || n("next_hold") < known.maxHoldSeq) {
      drift.push({
        kind: "counters",
        redis: `seq ${n("next_seq")} hold ${n("next_hold")}`,
        postgres: `seq ${known.maxArrivalSeq} hold ${known.maxHoldSeq}`,
      });
    }
    return drift;
  }

  /** Bookings an applied payment says are paid that Redis does not hold as paid. */
  private async paymentsLost(eventId: string, known: KnownInDb): Promise<EventDrift["drift"]> {
    const states = await Promise.all(
      known.restore.map((r) => this.redis.hget(bookingKey(eventId, r.bookingId), BOOKING.state)),
    );
    return known.restore.flatMap((r, i) => {
      const state = states[i] ?? null;
      if (state === STATE.paid) return [];
      return [
        {
          kind: "payment_lost" as const,
          redis: state ?? "absent",
          postgres: `booking ${r.bookingId} paid by ${r.paymentRef}`,
        },
      ];
    });
  }
}
