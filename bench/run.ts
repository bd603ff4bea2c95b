import cliProgress from "cli-progress";
import { Redis } from "ioredis";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { freePort } from "../bin/app.js";
import { loadConfig } from "../engine/config.js";
import { Engine } from "../engine/engine.js";
import { createPool } from "../sql/db.js";
import { ensureDatabase, migrate } from "../sql/migrate.js";
import { runLoad, runThreads, share, type RunResult } from "./load.js";
import { dropEvent, measureWaitingMemory, scratchEvent, type WaitingMemory } from "./memory.js";
import { Mix, type MixCounts } from "./mix.js";
import { checkDesign, designDatabaseUrl, prepareDesign } from "./postgres/design.js";
import { ROOT, spawnChild, stopAll, type Child } from "./processes.js";
import type { RedisJob } from "./redisWorker.js";
import { withRedisCost } from "./redisCost.js";
import { renderReport } from "./report.js";
import { verifyOnSale, waitForRelay, type Invariants } from "./verify.js";

// The on-sale benchmark. In one run, on one machine, side by side:
//   httpCeiling  uWS endpoint doing nothing (bench/servers.ts ceiling)
//   redisCeiling the hold script called through the Engine, pipelined (and single, one at a time)
//   engine       the full POST /bookings path: `people` distinct people against `tickets`
//   postgres     the same endpoint on the plain PostgreSQL design (bench/postgres)
// then the on-sale's mix (pay, cancel, expire, line served), the invariants, memory, and
// results in bench/results/latest.json and report.html.

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
};

export interface BenchResult {
  people: number;
  tickets: number;
  workers: number;
  durationMs: number;
  startedAt: string;
  machine: { cpus: number; loadAverage: number[] };
  invariants: Omit<Invariants, "redis" | "postgres">;
  runs: Record<"httpCeiling" | "redisCeiling" | "redisCeilingSingle" | "redisBatched" | "engine" | "engineSingle" | "engineSingleAt80" | "engineBatched" | "engineBatchedAt80" | "postgres", RunResult>;
  ratios: {
    engineToHttpCeiling: number;
    engineToRedisCeiling: number;
    engineToPostgres: number;
    /** Group commit: batched over single holds, through Redis alone and through the full path. */
    redisBatchedToSingle: number;
    engineBatchedToSingle: number;
  };
  onSale: {
    arrivalMs: number;
    settleMs: number;
    relayMs: number;
    mix: MixCounts;
    redis: Invariants["redis"];
    postgres: Invariants["postgres"];
    postgresDesign: { ok: boolean; capacity: number; instock: number; held: number };
  };
  memory: { waiting: WaitingMemory; peakRssBytes: Record<string, number> };
}

const ADMIN_TOKEN = "bench-admin-token";
const CEILING_TICKETS = 10_000_000;
const WEBHOOK_SECRET = "whsec_bench_local_only";
export const BOOKING_ANSWERS = ["201", "202", "409"];
const HOLD_ANSWERS = ["held", "waiting", "replay", "SOLD_OUT"];

/** Settings of every engine process the bench starts (also used for direct Engine calls). */
export function engineEnv(options: BenchOptions, port: number, gatewayPort: number, holdBatch = options.holdBatch): Record<string, string> {
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
    // Every person comes from 127.0.0.1: the per-IP limit is raised as DESIGN.md says the bench does.
    RATE_IP_PER_S: "1000000",
    RATE_IP_BURST: "10000000",
    RATE_USER_PER_S: "1000",
    RATE_USER_BURST: "1000",
    RELAY_BATCH: "5000",
    RELAY_INTERVAL_MS: "50",
  };
}

class Phases {
  private readonly bar = new cliProgress.SingleBar(
    { format: "{phase} [{bar}] {value}/{total} {detail}", hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );

  start(phase: string, total: number): void {
    this.bar.start(total, 0, { phase: phase.padEnd(22), detail: "" });
  }

  update(value: number, detail = ""): void {
    this.bar.update(value, { detail });
  }

  stop(): void {
    this.bar.stop();
  }
}

async function spawnServers(kind: "ceiling" | "pgdesign", count: number, env: Record<string, string>): Promise<Child[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) => spawnChild({ name: `${kind}-${i}`, script: "bench/servers.ts", args: [kind], env, readyWhen: /listening/ })),
  );
}

async function timedLoad(phases: Phases, phase: string, seconds: number, run: (onProgress: (n: number) => void) => Promise<RunResult>): Promise<RunResult> {
  const startedMs = Date.now();
  phases.start(phase, seconds);
  const result = await run((n) => phases.update(Math.min(seconds, Math.round((Date.now() - startedMs) / 1000)), `${n} answers`));
  phases.update(seconds, `${result.rps} req/s p99 ${result.p99Ms} ms`);
  phases.stop();
  return result;
}

export async function createEvent(baseUrl: string, tickets: number): Promise<string> {
  const answer = await fetch(`${baseUrl}/admin/events`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({
      name: "Bench Stadium On-sale", venue: "Bench Arena", startsAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      timeZone: "UTC", capacity: tickets, price: 5000, currency: "EUR", maxPerUser: 4,
    }),
  });
  const body = (await answer.json()) as { id?: string };
  if (answer.status !== 201 || body.id === undefined) throw new Error(`bench event not created: ${answer.status} ${JSON.stringify(body)}`);
  return body.id;
}

async function redisCeiling(options: BenchOptions, env: Record<string, string>, redis: Redis, engine: Engine, mode: RedisJob["mode"], phases: Phases, label: string = mode): Promise<RunResult> {
  // Capacity for everyone: the ceiling measures holds, not sold-out answers.
  const event = scratchEvent(10_000_000);
  await engine.loadEvent(event, 0);
  try {
    const inFlight = mode === "pipelined" ? 128 : 8;
    const jobs: RedisJob[] = Array.from({ length: options.threads }, (_, i) => ({
      redisUrl: options.redisUrl, env, eventId: event.id, userPrefix: `redis-${label}-${i}`, mode,
      inFlight: share(inFlight, options.threads, i) || 1, durationS: options.seconds,
    }));
    return await withRedisCost(redis, () => timedLoad(phases, `redis ceiling ${label}`, options.seconds, (onProgress) =>
      runThreads(new URL("./redisWorker.ts", import.meta.url), jobs, HOLD_ANSWERS, onProgress)));
  } finally {
    await dropEvent(redis, event.id);
  }
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const startedMs = Date.now();
  const phases = new Phases();
  const children: Child[] = [];
  const peakRssBytes: Record<string, number> = {};
  const remember = (list: Child[]) => {
    for (const child of list) peakRssBytes[child.name] = child.peakRssBytes();
  };
  await ensureDatabase(options.databaseUrl);
  const pool = createPool(options.databaseUrl, 4);
  await migrate(pool);
  const redis = new Redis(options.redisUrl);
  const port = await freePort();
  const gatewayPort = await freePort();
  const env = engineEnv(options, port, gatewayPort);
  const engine = new Engine(redis, loadConfig(env));
  const url = `http://127.0.0.1:${port}`;
  const runTag = Date.now().toString(36);
  /** Events made through the engine for fixed-time runs; dropped from Redis at the end. */
  const benchEvents: string[] = [];
  const load = (eventId: string, prefix: string, amount: number) => (onProgress: (n: number) => void) =>
    runLoad({ url, eventId, userPrefix: `${prefix}-${runTag}`, threads: options.threads, connections: options.connections, amount, durationS: options.seconds, okStatuses: BOOKING_ANSWERS, onProgress });

  try {
    // 1. The HTTP layer doing nothing.
    let servers = await spawnServers("ceiling", options.workers, { PORT: String(port) });
    children.push(...servers);
    const httpCeiling = await timedLoad(phases, "http ceiling", options.seconds, load("00000000-0000-0000-0000-000000000000", "ceiling", 0));
    remember(servers);
    await stopAll(servers);

    // 2. The plain PostgreSQL design, behind the same uWS layer.
    const designUrl = designDatabaseUrl(options.databaseUrl);
    // Stock for everyone, as in the Redis ceiling: this measures the hold path, not refusals.
    const designEventId = await prepareDesign(designUrl, CEILING_TICKETS);
    servers = await spawnServers("pgdesign", options.workers, {
      PORT: String(port), DATABASE_URL: designUrl, HOLD_SECONDS: String(options.holdSeconds), PG_POOL_MAX: String(Math.max(2, Math.floor(40 / options.workers))),
    });
    children.push(...servers);
    const postgres = await timedLoad(phases, "postgres design", options.seconds, load(designEventId, "pg", 0));
    const postgresDesign = await checkDesign(designUrl, designEventId);
    remember(servers);
    await stopAll(servers);

    // 3. The Redis ceiling: the hold script without HTTP.
    const redisCeilingPipelined = await redisCeiling(options, env, redis, engine, "pipelined", phases);
    const redisCeilingSingle = await redisCeiling(options, env, redis, engine, "single", phases);
    const redisBatched = await redisCeiling(options, { ...env, HOLD_BATCH: "on" }, redis, engine, "pipelined", phases, "batched");

    // 4. Memory per waiting person.
    const waiting = await measureWaitingMemory(engine, options.memoryPeople);

    // 5. The on-sale through the full path, with the mix running as holds appear.
    const nodeArgs = options.profile ? ["--cpu-prof", `--cpu-prof-dir=${join(options.outDir, "profiles")}`] : [];
    const engines = await Promise.all([
      ...Array.from({ length: options.workers }, (_, i) => spawnChild({ name: `serve-${i}`, script: "bin/onsale.ts", args: ["serve"], env, readyWhen: /engine started/, nodeArgs })),
      spawnChild({ name: "work", script: "bin/onsale.ts", args: ["work"], env, readyWhen: /engine started/, nodeArgs }),
      spawnChild({ name: "gateway", script: "bin/onsale.ts", args: ["gateway"], env, readyWhen: /engine started/ }),
    ]);
    children.push(...engines);
    const eventId = await createEvent(url, options.tickets);
    const mix = new Mix({ redisUrl: options.redisUrl, engineUrl: url, eventId, webhookSecret: WEBHOOK_SECRET, payPercent: options.payPercent, cancelPercent: options.cancelPercent, concurrency: 64 });
    mix.start();
    const arrivalStartMs = Date.now();
    phases.start("on-sale arrivals", options.people);
    const engineRun = await withRedisCost(redis, () => runLoad({
      url, eventId, userPrefix: `person-${runTag}`, threads: options.threads, connections: options.connections, amount: options.people, durationS: 0,
      okStatuses: BOOKING_ANSWERS, onProgress: (n) => phases.update(n, `paid ${mix.counts.payOutcomes.paid ?? 0}`),
    }));
    phases.update(options.people, `${engineRun.rps} req/s p99 ${engineRun.p99Ms} ms`);
    phases.stop();
    const arrivalMs = Date.now() - arrivalStartMs;

    const settleStartMs = Date.now();
    phases.start("on-sale settles", options.tickets);
    const settleTicker = setInterval(() => void engine.liveEvent(eventId).then((live) => live && phases.update(live.paid, `held ${live.held}`)), 500);
    try {
      await mix.settle(options.settleTimeoutMs);
    } finally {
      clearInterval(settleTicker);
      phases.stop();
    }
    const settleMs = Date.now() - settleStartMs;
    await mix.stop();

    const relayStartMs = Date.now();
    phases.start("relay to postgres", 100);
    await waitForRelay(pool, redis, eventId, options.settleTimeoutMs, (fraction) => phases.update(Math.round(fraction * 100)));
    phases.update(100);
    phases.stop();
    const relayMs = Date.now() - relayStartMs;

    // 6. Single vs batched holds through the full path, side by side on fresh events.
    const serveSet = (holdBatch: boolean) => Promise.all(Array.from({ length: options.workers }, (_, i) =>
      spawnChild({ name: `serve-${holdBatch ? "batched" : "single"}-${i}`, script: "bin/onsale.ts", args: ["serve"], env: engineEnv(options, port, gatewayPort, holdBatch), readyWhen: /engine started/ })));
    const engineRunOf = async (holdBatch: boolean): Promise<[RunResult, RunResult]> => {
      const mode = holdBatch ? "batched" : "single";
      const servers = await serveSet(holdBatch);
      children.push(...servers);
      const eventId = await createEvent(url, options.tickets);
      benchEvents.push(eventId);
      const peak = await withRedisCost(redis, () => timedLoad(phases, `engine ${mode}`, options.seconds, load(eventId, mode, 0)));
      // Latency below saturation: the same path held at 80% of the rate it just peaked at.
      const rate = Math.max(1, Math.round(peak.rps * 0.8));
      const at80 = await timedLoad(phases, `engine ${mode} at 80%`, options.seconds, (onProgress) =>
        runLoad({ url, eventId, userPrefix: `${mode}80-${runTag}`, threads: options.threads, connections: options.connections, amount: 0, durationS: options.seconds, rate, okStatuses: BOOKING_ANSWERS, onProgress }));
      remember(servers);
      await stopAll(servers);
      return [peak, at80];
    };
    remember(engines);
    await stopAll(engines.slice(0, options.workers));
    const [engineSingle, engineSingleAt80] = await engineRunOf(false);
    const [engineBatched, engineBatchedAt80] = await engineRunOf(true);
    await stopAll(engines);

    const checked = await verifyOnSale(engine, pool, eventId, mix.counts.fcfsViolations);
    // Half a million booking hashes would stay in Redis for BOOKING_RETENTION_SECONDS.
    for (const id of [eventId, ...benchEvents]) await dropEvent(redis, id);
    if (!postgresDesign.ok) checked.problems.push(`the PostgreSQL design oversold: ${JSON.stringify(postgresDesign)}`);
    const { redis: redisTally, postgres: postgresTally, ...invariants } = checked;
    invariants.ok = invariants.problems.length === 0;
    const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : 0);
    return {
      people: options.people,
      tickets: options.tickets,
      workers: options.workers,
      durationMs: Date.now() - startedMs,
      startedAt: new Date(startedMs).toISOString(),
      machine: { cpus: cpus().length, loadAverage: loadavg() },
      invariants,
      runs: { httpCeiling, redisCeiling: redisCeilingPipelined, redisCeilingSingle, redisBatched, engine: engineRun, engineSingle, engineSingleAt80, engineBatched, engineBatchedAt80, postgres },
      ratios: {
        engineToHttpCeiling: ratio(engineRun.rps, httpCeiling.rps),
        engineToRedisCeiling: ratio(engineRun.rps, redisCeilingPipelined.rps),
        engineToPostgres: ratio(engineRun.rps, postgres.rps),
        redisBatchedToSingle: ratio(redisBatched.rps, redisCeilingPipelined.rps),
        engineBatchedToSingle: ratio(engineBatched.rps, engineSingle.rps),
      },
      onSale: { arrivalMs, settleMs, relayMs, mix: mix.counts, redis: redisTally, postgres: postgresTally, postgresDesign },
      memory: { waiting, peakRssBytes },
    };
  } finally {
    await stopAll(children);
    redis.disconnect();
    await pool.end();
  }
}

export function writeResults(result: BenchResult, outDir: string, command: string): { json: string; html: string } {
  mkdirSync(outDir, { recursive: true });
  const json = join(outDir, "latest.json");
  const html = join(outDir, "report.html");
  writeFileSync(json, `${JSON.stringify({ command, ...result }, null, 2)}\n`);
  writeFileSync(html, renderReport(result, command));
  return { json, html };
}
