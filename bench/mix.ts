import { Redis } from "ioredis";
import { Pool as HttpPool } from "undici";
import { decodeLogEntry, type LogEntry } from "../engine/eventLog.js";
import { bookingToken } from "../engine/ids.js";
import { bookingKey, eventKey, lineKey, logKey } from "../engine/keys.js";
import { STATE } from "../engine/schema.js";
import { checkoutCompleted, stripeSignature } from "../testkit/webhooks.js";

// What people do once they hold tickets, driven by the event's own log: every hold (new or
// served from the line) is read from log:{E}; most are paid through a signed webhook, some
// are cancelled, the rest are left to expire so the sweep gives them back. Meanwhile the log
// is checked for FCFS: holds must be granted in arrival order.

export interface MixOptions {
  redisUrl: string;
  engineUrl: string;
  eventId: string;
  webhookSecret: string;
  /** Shares of holds, in percent; what is left expires. */
  payPercent: number;
  cancelPercent: number;
  /** Webhooks and cancels in flight at most. */
  concurrency: number;
}

export interface MixCounts {
  holds: number;
  servedFromLine: number;
  paySent: number;
  cancelSent: number;
  leftToExpire: number;
  /** Payments and cancels not sent because the hold had ended before the mix got to them. */
  tooLate: number;
  expired: number;
  droppedFromLine: number;
  /** Webhook outcomes as the engine answered them (paid, late_paid, refund, ...). */
  payOutcomes: Record<string, number>;
  cancelStatuses: Record<string, number>;
  failures: number;
  /** Holds whose arrival sequence is lower than an earlier hold's: FCFS broken. */
  fcfsViolations: number;
}

const READ_COUNT = 2000;
/** An action is dropped when less than this is left of its hold. */
const ACTION_MARGIN_MS = 500;
const READ_BLOCK_MS = 100;

/** A stable 0..99 per booking, so a run's mix does not depend on timing. */
function percentile(id: string): number {
  let hash = 2166136261;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 16777619);
  return (hash >>> 0) % 100;
}

export class Mix {
  readonly counts: MixCounts = {
    holds: 0,
    servedFromLine: 0,
    paySent: 0,
    cancelSent: 0,
    leftToExpire: 0,
    tooLate: 0,
    expired: 0,
    droppedFromLine: 0,
    payOutcomes: {},
    cancelStatuses: {},
    failures: 0,
    fcfsViolations: 0,
  };
  private readonly reader: Redis;
  private readonly redis: Redis;
  private readonly http: HttpPool;
  private readonly pending: (() => Promise<void>)[] = [];
  private inFlight = 0;
  private lastId = "0";
  private caughtUp = false;
  private lastHoldSeq = 0;
  private lastArrivalSeq = 0;
  private stopped = false;
  private readLoop: Promise<void> = Promise.resolve();

  constructor(private readonly options: MixOptions) {
    this.reader = new Redis(options.redisUrl);
    this.redis = new Redis(options.redisUrl);
    this.http = new HttpPool(options.engineUrl, { connections: options.concurrency, pipelining: 1 });
  }

  start(): void {
    this.readLoop = this.read();
  }

  /** Resolves once no hold is left, the line is empty, and every action was answered. */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const { eventId } = this.options;
    for (;;) {
      const [held, line] = await Promise.all([
        this.redis.hget(eventKey(eventId), "held"),
        this.redis.zcard(lineKey(eventId)),
      ]);
      if (Number(held) === 0 && line === 0 && this.caughtUp && this.inFlight === 0 && this.pending.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(
          `on-sale did not settle within ${timeoutMs} ms: held ${held}, line ${line}, actions pending ${this.pending.length + this.inFlight}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.readLoop;
    this.reader.disconnect();
    this.redis.disconnect();
    await this.http.close();
  }

  private async read(): Promise<void> {
    const key = logKey(this.options.eventId);
    while (!this.stopped) {
      const reply = (await this.reader.xread(
        "COUNT",
        READ_COUNT,
        "BLOCK",
        READ_BLOCK_MS,
        "STREAMS",
        key,
        this.lastId,
      )) as [string, [string, string[]][]][] | null;
      const entries = reply?.[0]?.[1] ?? [];
      this.caughtUp = entries.length < READ_COUNT;
      for (const [id, flat] of entries) {
        this.lastId = id;
        this.onEntry(decodeLogEntry(id, flat));
      }
    }
  }

  private onEntry(entry: LogEntry): void {
    const { counts } = this;
    if (entry.status === STATE.expired) {
      if (entry.reason === "hold_expired") counts.expired += 1;
      else if (entry.reason === "sold_out") counts.droppedFromLine += 1;
      return;
    }
    if (entry.status !== STATE.held) return;
    counts.holds += 1;
    if (entry.reason === "served") counts.servedFromLine += 1;
    const { holdSeq, arrivalSeq, bookingId, expiresAtMs } = entry;
    if (holdSeq <= this.lastHoldSeq || arrivalSeq < this.lastArrivalSeq) counts.fcfsViolations += 1;
    this.lastHoldSeq = holdSeq;
    this.lastArrivalSeq = arrivalSeq;
    const share = percentile(bookingId);
    if (share < this.options.payPercent)
      this.enqueue(expiresAtMs, () => this.pay(bookingId, entry.amount, entry.currency), "paySent");
    else if (share < this.options.payPercent + this.options.cancelPercent)
      this.enqueue(expiresAtMs, () => this.cancel(bookingId), "cancelSent");
    else counts.leftToExpire += 1;
  }

  /**
   * Queues an action for a hold. People act within their hold: when the machine is saturated
   * the queue can fall behind, and an action for a hold that has ended is dropped (counted as
   * tooLate) rather than turning the whole mix into late payments and refunds.
   */
  private enqueue(expiresAtMs: number, action: () => Promise<void>, counter: "paySent" | "cancelSent"): void {
    this.pending.push(async () => {
      if (Date.now() >= expiresAtMs - ACTION_MARGIN_MS) {
        this.counts.tooLate += 1;
        return;
      }
      this.counts[counter] += 1;
      await action();
    });
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.options.concurrency && this.pending.length > 0) {
      const action = this.pending.shift()!;
      this.inFlight += 1;
      action()
        .catch(() => {
          this.counts.failures += 1;
        })
        .finally(() => {
          this.inFlight -= 1;
          this.pump();
        });
    }
  }

  private async pay(bookingId: string, amount: number, currency: string): Promise<void> {
    const payload = JSON.stringify(
      checkoutCompleted({
        id: `evt_bench_${bookingId}_${this.counts.paySent}`,
        bookingId,
        eventId: this.options.eventId,
        amount,
        currency,
        sessionId: `cs_bench_${bookingId}`,
      }),
    );
    const signature = stripeSignature(payload, this.options.webhookSecret);
    const answer = await this.http.request({
      method: "POST",
      path: "/webhooks/stripe",
      headers: { "content-type": "application/json", "stripe-signature": signature },
      body: payload,
    });
    const body = (await answer.body.json()) as { outcome?: string };
    const outcome = answer.statusCode === 200 ? (body.outcome ?? "unknown") : `http_${answer.statusCode}`;
    this.counts.payOutcomes[outcome] = (this.counts.payOutcomes[outcome] ?? 0) + 1;
    if (answer.statusCode !== 200) this.counts.failures += 1;
  }

  private async cancel(bookingId: string): Promise<void> {
    const secret = await this.redis.hget(bookingKey(this.options.eventId, bookingId), "token");
    const token = bookingToken(this.options.eventId, secret ?? "");
    const answer = await this.http.request({
      method: "DELETE",
      path: `/bookings/${bookingId}`,
      headers: { authorization: `Bearer ${token}` },
    });
    await answer.body.dump();
    const status = String(answer.statusCode);
    this.counts.cancelStatuses[status] = (this.counts.cancelStatuses[status] ?? 0) + 1;
    if (answer.statusCode >= 500) this.counts.failures += 1;
  }
}
