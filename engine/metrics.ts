import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

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
    help: "Payment webhooks by outcome: paid, late_paid, duplicate, refund, mismatch, released, unchanged, unmatched (names no booking of ours), declined (one card refused; the hold stays), awaiting_payment, replayed, refund_confirmed, refund_external, ignored, signature_rejected.",
    labelNames: ["outcome"] as const,
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
