import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

// One registry for the process; GET /metrics serves it.
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export const metrics = {
  httpRequests: new Counter({
    name: "onsale_http_requests_total",
    help: "HTTP requests answered, by route and status code.",
    labelNames: ["route", "status"] as const,
    registers: [registry],
  }),
  bookingOutcomes: new Counter({
    name: "onsale_booking_outcomes_total",
    help: "Answers to POST /bookings: held, waiting, replay, or an error code.",
    labelNames: ["outcome"] as const,
    registers: [registry],
  }),
  scriptSeconds: new Histogram({
    name: "onsale_script_seconds",
    help: "Round trip of one Redis script call, seen from Node.",
    labelNames: ["script"] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [registry],
  }),
  payments: new Counter({
    name: "onsale_payments_total",
    help: "Payment webhooks by outcome: paid, late_paid, duplicate, refund, mismatch, released, signature_rejected.",
    labelNames: ["outcome"] as const,
    registers: [registry],
  }),
  relayEntries: new Counter({
    name: "onsale_relay_entries_total",
    help: "Log entries the relay wrote to PostgreSQL.",
    registers: [registry],
  }),
  sweepReclaimed: new Counter({
    name: "onsale_sweep_reclaimed_total",
    help: "Expired holds reclaimed by the periodic sweep (lazy reclaims in other scripts are not counted).",
    registers: [registry],
  }),
};
