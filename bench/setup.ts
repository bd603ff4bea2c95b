import { join } from "node:path";
import { createEventOver } from "../testkit/fixtures.js";
import { ROOT } from "../testkit/processes.js";

// What a bench run is asked to do, and how it starts the engine processes and events it measures.

export interface BenchOptions {
  people: number;
  tickets: number;
  /** HTTP server processes sharing one port. */
  workers: number;
  /** Load generator threads (autocannon saturates one core each). */
  threads: number;
  connections: number;
  /** How long each ceiling and the PostgreSQL design run. */
  seconds: number;
  holdSeconds: number;
  payPercent: number;
  cancelPercent: number;
  memoryPeople: number;
  redisUrl: string;
  databaseUrl: string;
  /** pg-boss schema of the engine processes the bench starts. */
  bossSchema: string;
  outDir: string;
  /** Run the engine processes under `node --cpu-prof`, profiles into outDir/profiles. */
  profile: boolean;
  /** Time allowed for the mix to settle and the relay to drain. */
  settleTimeoutMs: number;
  /** Group commit (HOLD_BATCH) for the on-sale run; single vs batched are also run side by side. */
  holdBatch: boolean;
  /** Also run the engine beside its PostgreSQL rivals at matched durability (bench/rivals.ts). */
  rivals: boolean;
  /** People in each of those runs. */
  rivalPeople: number;
}

export const DEFAULTS: BenchOptions = {
  people: 500_000,
  tickets: 50_000,
  workers: 1,
  threads: 2,
  connections: 100,
  seconds: 8,
  holdSeconds: 10,
  payPercent: 80,
  cancelPercent: 10,
  memoryPeople: 20_000,
  redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  databaseUrl: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/onsale_bench",
  bossSchema: "pgboss_bench",
  outDir: join(ROOT, "bench", "results"),
  profile: false,
  settleTimeoutMs: 300_000,
  holdBatch: false,
  rivals: false,
  rivalPeople: 20_000,
};

const ADMIN_TOKEN = "bench-admin-token";
export const WEBHOOK_SECRET = "whsec_bench_local_only";
export const BOOKING_ANSWERS = ["201", "202", "409"];

/** Settings of every engine process the bench starts (also used for direct Engine calls). */
export function engineEnv(
  options: BenchOptions,
  port: number,
  gatewayPort: number,
  holdBatch = options.holdBatch,
): Record<string, string> {
  return {
    HOLD_BATCH: holdBatch ? "on" : "off",
    PORT: String(port),
    MOCK_GATEWAY_PORT: String(gatewayPort),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    REDIS_URL: options.redisUrl,
    DATABASE_URL: options.databaseUrl,
    DATABASE_READ_URL: options.databaseUrl,
    PGBOSS_SCHEMA: options.bossSchema,
    ADMIN_TOKEN,
    MOCK_WEBHOOK_SECRET: WEBHOOK_SECRET,
    PAYMENT_PROVIDER: "mock",
    HOLD_SECONDS: String(options.holdSeconds),
    LOG_LEVEL: "info",
    // Everyone who arrives is in line at once, and the sweep must drain it quickly.
    LINE_MAX: String(Math.max(1_000_000, options.people)),
    SERVE_MAX: "2000",
    RECLAIM_MAX: "2000",
    SWEEP_INTERVAL_MS: "100",
    // Every person comes from 127.0.0.1: the per-IP limit is raised, or it would measure the limiter.
    RATE_IP_PER_S: "1000000",
    RATE_IP_BURST: "10000000",
    RATE_USER_PER_S: "1000",
    RATE_USER_BURST: "1000",
    IP_BOOKINGS_MAX: "10000000",
    RELAY_BATCH: "5000",
    RELAY_INTERVAL_MS: "50",
  };
}

export function createEvent(baseUrl: string, tickets: number): Promise<string> {
  return createEventOver(baseUrl, ADMIN_TOKEN, {
    name: "Bench Stadium On-sale",
    venue: "Bench Arena",
    startsAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    timeZone: "UTC",
    capacity: tickets,
  });
}
