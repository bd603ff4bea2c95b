import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type Metric,
  type MetricValueWithName,
} from "prom-client";

// One registry for the process; GET /metrics serves it.
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

// prom-client's inc() and observe() hash and validate a labels object on every call:
// microseconds, on every request. What is counted per request is kept in plain numbers
// instead, one Tally or Timing per label value (callers keep theirs), and handed to
// prom-client when the registry is read.

/** One label combination's count since the registry last read it. */
export class Tally {
  pending = 0;
  constructor(readonly labels: Record<string, string | number>) {}

  inc(): void {
    this.pending += 1;
  }
}

/** A counter counted in Tallies. */
class TalliedCounter<L extends string> {
  private readonly tallies = new Map<string, Tally>();
  readonly counter: Counter<L>;

  constructor(config: CounterConfiguration<L>) {
    const tallies = this.tallies;
    this.counter = new Counter({
      ...config,
      collect() {
        for (const tally of tallies.values())
          if (tally.pending > 0) {
            this.inc(tally.labels as Partial<Record<L, string | number>>, tally.pending);
            tally.pending = 0;
          }
      },
    });
  }

  /** The tally of these label values; keep it, and inc() it. */
  tally(labels: Record<L, string | number>): Tally {
    const key = Object.values(labels).join("\u0000");
    let tally = this.tallies.get(key);
    if (tally === undefined) {
      tally = new Tally(labels);
      this.tallies.set(key, tally);
    }
    return tally;
  }
}

/** One label value's durations, bucketed as they come. */
class Timing {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  /** Records the time since startedMs (a performance.now() reading). */
  since(startedMs: number): void {
    const seconds = (performance.now() - startedMs) / 1000;
    this.sum += seconds;
    this.count += 1;
    // A loop, not findIndex: no callback to allocate on every script call.
    const { bounds } = this;
    for (let i = 0; i < bounds.length; i++)
      if (seconds <= bounds[i]!) {
        this.counts[i]! += 1;
        return;
      }
  }
}

/** A histogram of durations by one label, in the format prom-client's registry prints. */
class TimingHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly timings = new Map<string, Timing>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    private readonly bounds: readonly number[],
  ) {
    // The registry reads a metric through get() and reset() alone; this has both.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The timing of this label value; keep it. */
  timing(labelValue: string): Timing {
    let timing = this.timings.get(labelValue);
    if (timing === undefined) {
      timing = new Timing(this.bounds);
      this.timings.set(labelValue, timing);
    }
    return timing;
  }

  async get() {
    const values: MetricValueWithName<string>[] = [];
    for (const [labelValue, timing] of this.timings) {
      const label = { [this.labelName]: labelValue };
      let cumulative = 0;
      for (const [i, bound] of this.bounds.entries()) {
        cumulative += timing.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: bound, ...label }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: "+Inf", ...label }, value: timing.count });
      values.push({ metricName: `${this.name}_sum`, labels: label, value: timing.sum });
      values.push({ metricName: `${this.name}_count`, labels: label, value: timing.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Zeroes every timing, kept ones included (callers hold theirs). */
  reset(): void {
    for (const timing of this.timings.values()) timing.reset();
  }
}

export const metrics = {
  httpRequests: new TalliedCounter({
    name: "onsale_http_requests_total",
    help: "HTTP requests answered, by route and status code.",
    labelNames: ["route", "status"] as const,
    registers: [registry],
  }),
  bookingOutcomes: new TalliedCounter({
    name: "onsale_booking_outcomes_total",
    help: "Answers to POST /bookings: held, waiting, replay, or an error code.",
    labelNames: ["outcome"] as const,
    registers: [registry],
  }),
  scriptSeconds: new TimingHistogram(
    "onsale_script_seconds",
    "Round trip of one Redis script call, seen from Node.",
    "script",
    [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
  ),
  payments: new Counter({
    name: "onsale_payments_total",
    help: "Payment webhooks by outcome: paid, late_paid, duplicate, refund, over_limit (a late payment past the per-person limit, refunded), mismatch, released, unchanged, unmatched (names no booking of ours), declined (one card refused; the hold stays), awaiting_payment, replayed, refund_confirmed, refund_external, ignored, signature_rejected.",
    labelNames: ["outcome"] as const,
    registers: [registry],
  }),
  confirmWaitShort: new Counter({
    name: "onsale_confirm_wait_short_total",
    help: "Payments confirmed before REDIS_CONFIRM_WAIT_REPLICAS replicas acknowledged them (the wait timed out)",
    registers: [registry],
  }),
  refunds: new Counter({
    name: "onsale_refunds_total",
    help: "Refunds issued through the provider (refunded), or given up after every retry (failed).",
    labelNames: ["result"] as const,
    registers: [registry],
  }),
  relayEntries: new Counter({
    name: "onsale_relay_entries_total",
    help: "Log entries the relay wrote to PostgreSQL.",
    registers: [registry],
  }),
  relayFailures: new Counter({
    name: "onsale_relay_failures_total",
    help: "Relay passes over one event's entries that PostgreSQL (or Redis) refused; the event is tried again.",
    registers: [registry],
  }),
  relayDeadLetters: new Counter({
    name: "onsale_relay_dead_letters_total",
    help: "Log entries set aside in relay_dead_letters after RELAY_MAX_ATTEMPTS failed passes (replay with `onsale relay replay`).",
    registers: [registry],
  }),
  searchSeconds: new Histogram({
    name: "onsale_search_seconds",
    help: "GET /events answer time inside the engine, by backend and cache: hit, miss, shared (waited for the same search in flight), off.",
    labelNames: ["backend", "cache"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  }),
  sweepReclaimed: new Counter({
    name: "onsale_sweep_reclaimed_total",
    help: "Expired holds reclaimed by the periodic sweep (lazy reclaims in other scripts are not counted).",
    registers: [registry],
  }),
  // Waiting room and anti-bot.
  liveSockets: new Gauge({
    name: "onsale_live_sockets",
    help: "WebSocket clients following a booking on this process.",
    registers: [registry],
  }),
  liveMessages: new Counter({
    name: "onsale_live_messages_total",
    help: "Booking status messages pushed over WebSocket.",
    registers: [registry],
  }),
  admissionRefusals: new Counter({
    name: "onsale_admission_refusals_total",
    help: "Booking requests refused by the hold script's anti-bot gate: rate_ip, rate_user, pow_required, pow_invalid, pow_reused.",
    labelNames: ["reason"] as const,
    registers: [registry],
  }),
  // Notifications and queues.
  emails: new Counter({
    name: "onsale_emails_total",
    help: "Booking emails by kind (confirmation, your_turn, reminder, refund) and result (sent, failed, skipped, given_up).",
    labelNames: ["kind", "result"] as const,
    registers: [registry],
  }),
  queueDepth: new Gauge({
    name: "onsale_queue_depth",
    help: "pg-boss jobs queued and not yet started (created or to retry, due or waiting for their startAfter), per queue.",
    labelNames: ["queue"] as const,
    registers: [registry],
  }),
  queueActive: new Gauge({
    name: "onsale_queue_active",
    help: "pg-boss jobs being worked, per queue.",
    labelNames: ["queue"] as const,
    registers: [registry],
  }),
};
