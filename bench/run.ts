import { Redis } from "ioredis";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { freePort } from "../bin/app.js";
import { loadConfig } from "../engine/config.js";
import { Engine } from "../engine/engine.js";
import { createPool, type Pool } from "../sql/db.js";
import { ensureDatabase, migrate } from "../sql/migrate.js";
import { runLoad, runThreads, share, type RunResult } from "./load.js";
import { measureWaitingMemory, type WaitingMemory } from "./memory.js";
import { Mix, type MixCounts } from "./mix.js";
import { checkDesign, designDatabaseUrl, prepareDesign } from "./postgres/design.js";
import type { RedisJob } from "./redisWorker.js";
import { withRedisCost } from "./redisCost.js";
import { CpuMeter, databaseNameOf, metered, perRequest, serverUrlOf, type CpuSources } from "./cpu.js";
import { dropFloor, prepareFloor } from "./floor.js";
import { costTargets, type CostTarget } from "./costs.js";
import { DURABILITY, runRivals, type RivalsResult } from "./rivals.js";
import { Progress, type PhaseInfo } from "./progress.js";
import { BOOKING_ANSWERS, type BenchOptions, createEvent, engineEnv, WEBHOOK_SECRET } from "./setup.js";
import { dropEvent, loadScratchEvent } from "../testkit/fixtures.js";
import { sleep, startProc, startRole, stopAll, type Proc } from "../testkit/processes.js";
import { verifyOnSale, waitForRelay, type Invariants } from "../testkit/verify.js";

// The on-sale benchmark. In one run, on one machine, side by side:
//   httpCeiling  uWS endpoint doing nothing (bench/servers.ts ceiling)
//   redisCeiling the hold script called through the Engine, pipelined (and single, one at a time)
//   engine       the full POST /bookings path: `people` distinct people against `tickets`
//   postgres     the same endpoint on the plain PostgreSQL design (bench/postgres)
// then the on-sale's mix (pay, cancel, expire, line served), the invariants, memory, and
// results in bench/results/latest.json and report.html. A run is the list of PHASES below,
// in order; each records what it measured on the Bench they share.

export interface BenchResult {
  people: number;
  tickets: number;
  workers: number;
  durationMs: number;
  startedAt: string;
  machine: { cpus: number; loadAverage: number[] };
  invariants: Omit<Invariants, "redis" | "postgres">;
  /** The cost targets, as ratios of runs side by side (CPU per request by process is in each run). */
  costTargets: CostTarget[];
  runs: Record<
    | "httpCeiling"
    | "holdFloor"
    | "redisCeiling"
    | "redisCeilingSingle"
    | "redisBatched"
    | "engine"
    | "engineSingle"
    | "engineSingleAt80"
    | "engineRefusals"
    | "engineBatched"
    | "engineBatchedAt80"
    | "postgres",
    RunResult
  >;
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
  /** CPU µs per second of serve, work, gateway, Redis and PostgreSQL when no request comes (background work). */
  idleCpuUsPerSecond: Record<string, number>;
  /** With --rivals: the engine beside the PostgreSQL rivals at both durability levels. */
  rivals?: RivalsResult;
}

/** The refusal run's event: all of it bought by one person (maxPerUser) before the run. */
const REFUSAL_TICKETS = 4;
const IDLE_MS = 3000;
const CEILING_TICKETS = 10_000_000;
const HOLD_ANSWERS = ["held", "waiting", "replay", "SOLD_OUT"];

type RunName = keyof BenchResult["runs"];

/** What the phases share: settings, connections, processes started, and what was measured. */
interface Bench {
  options: BenchOptions;
  env: Record<string, string>;
  port: number;
  gatewayPort: number;
  url: string;
  /** Distinct per bench run, so every request in it is a new person. */
  runTag: string;
  redis: Redis;
  engine: Engine;
  pool: Pool;
  progress: Progress;
  /** Every process started; all stopped at the end, whatever happened. */
  procs: Proc[];
  peakRssBytes: Record<string, number>;
  /** Events made through the engine for fixed-time runs; dropped from Redis at the end. */
  events: string[];
  runs: Partial<BenchResult["runs"]>;
  postgresDesign?: BenchResult["onSale"]["postgresDesign"];
  waiting?: WaitingMemory;
  onSale?: {
    eventId: string;
    mix: Mix;
    engines: Proc[];
    meter: CpuMeter;
    arrivalMs?: number;
    settleMs?: number;
    relayMs?: number;
  };
  checked?: Invariants;
  rivals?: RivalsResult;
  idleCpuUsPerSecond?: Record<string, number>;
}

interface Phase extends PhaseInfo {
  /** The option that must be on for this phase to run. */
  only?: "rivals";
  /** Runs the phase; returns one line saying what it found. */
  run(bench: Bench): Promise<string>;
}

const PHASES: readonly Phase[] = [
  { name: "http ceiling", what: "the uWS layer answering POST /bookings at once, no engine", run: httpCeilingPhase },
  { name: "postgres design", what: "the same endpoint holding tickets in PostgreSQL alone", run: postgresDesignPhase },
  {
    name: "redis ceiling",
    what: "the minimal hold script (the floor), then the hold script through Engine.hold, no HTTP: pipelined, single, batched",
    run: redisCeilingPhase,
  },
  { name: "waiting memory", what: "Redis bytes per person waiting in line", run: waitingMemoryPhase },
  {
    name: "on-sale arrivals",
    what: "every person arrives through the full path while the mix pays, cancels, lets expire",
    run: arrivalsPhase,
  },
  { name: "on-sale settles", what: "until nothing is held and the line is empty", run: settlePhase },
  { name: "relay to postgres", what: "until the relay has written the whole log", run: relayPhase },
  {
    name: "single vs batched",
    what: "the full path with HOLD_BATCH off and on, each at its peak and at 80% of it; refusals alone (sold out)",
    run: singleVsBatchedPhase,
  },
  {
    name: "rivals",
    what: "engine and PostgreSQL rivals on one workload, at matched durability (AOF everysec vs synchronous_commit off, always vs on)",
    run: rivalsPhase,
    only: "rivals",
  },
  {
    name: "invariants",
    what: "no oversell, FCFS, every paid booking in PostgreSQL exactly once",
    run: invariantsPhase,
  },
];

const summary = (r: RunResult) => `${r.rps} req/s, p99 ${r.p99Ms} ms, ${r.errors} errors`;

function startServers(kind: "ceiling" | "pgdesign", count: number, env: Record<string, string>): Promise<Proc[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      startProc({ name: `${kind}-${i}`, script: "bench/servers.ts", args: [kind], env, readyWhen: /listening/ }),
    ),
  );
}

/** Stops processes, first keeping their peak memory for the report. */
async function retire(bench: Bench, procs: Proc[]): Promise<void> {
  for (const proc of procs) bench.peakRssBytes[proc.name] = proc.peakRssBytes();
  await stopAll(procs);
}

/** A fixed-time load with a bar in seconds, counted from the first answer (load threads take a while to boot). */
async function timedLoad(
  bench: Bench,
  seconds: number,
  run: (onProgress: (n: number) => void) => Promise<RunResult>,
): Promise<RunResult> {
  let answeringSinceMs = 0;
  bench.progress.track(seconds, "s");
  const result = await run((n) => {
    if (n === 0) return bench.progress.update(0, "load threads starting");
    answeringSinceMs ||= Date.now();
    bench.progress.update(Math.min(seconds, Math.round((Date.now() - answeringSinceMs) / 1000)), `${n} answers`);
  });
  bench.progress.update(seconds, summary(result));
  return result;
}

/** POST /bookings for `--seconds` (or `rate` per second) on the event, new people each time. */
function bookingLoad(bench: Bench, eventId: string, prefix: string, rate?: number) {
  const { options, url, runTag } = bench;
  return (onProgress: (n: number) => void) =>
    runLoad({
      url,
      eventId,
      userPrefix: `${prefix}-${runTag}`,
      threads: options.threads,
      connections: options.connections,
      amount: 0,
      durationS: options.seconds,
      rate,
      okStatuses: BOOKING_ANSWERS,
      onProgress,
    });
}

async function httpCeilingPhase(bench: Bench): Promise<string> {
  bench.progress.step(`starting ${bench.options.workers} ceiling server process(es)`);
  const servers = await startServers("ceiling", bench.options.workers, { PORT: String(bench.port) });
  bench.procs.push(...servers);
  const load = bookingLoad(bench, "00000000-0000-0000-0000-000000000000", "ceiling");
  bench.progress.step(`POST /bookings for ${bench.options.seconds} s`);
  bench.runs.httpCeiling = await metered({ pids: { ceiling: pidsOf(servers) } }, () =>
    timedLoad(bench, bench.options.seconds, load),
  );
  await retire(bench, servers);
  return summary(bench.runs.httpCeiling);
}

async function postgresDesignPhase(bench: Bench): Promise<string> {
  const { options } = bench;
  const designUrl = designDatabaseUrl(options.databaseUrl);
  bench.progress.step("preparing the PostgreSQL design's database");
  // Stock for everyone, as in the Redis ceiling: this measures the hold path, not refusals.
  const designEventId = await prepareDesign(designUrl, CEILING_TICKETS);
  bench.progress.step(`starting ${options.workers} PostgreSQL design server process(es)`);
  const servers = await startServers("pgdesign", options.workers, {
    PORT: String(bench.port),
    DATABASE_URL: designUrl,
    HOLD_SECONDS: String(options.holdSeconds),
    PG_POOL_MAX: String(Math.max(2, Math.floor(40 / options.workers))),
  });
  bench.procs.push(...servers);
  const sources = {
    pids: { pgdesign: pidsOf(servers) },
    postgres: { serverUrl: serverUrlOf(designUrl), databases: [databaseNameOf(designUrl)] },
  };
  bench.progress.step(`POST /bookings for ${options.seconds} s`);
  bench.runs.postgres = await metered(sources, () =>
    timedLoad(bench, options.seconds, bookingLoad(bench, designEventId, "pg")),
  );
  bench.progress.step("checking its stock adds up");
  bench.postgresDesign = await checkDesign(designUrl, designEventId);
  await retire(bench, servers);
  return `${summary(bench.runs.postgres)}; ${bench.postgresDesign.ok ? "no oversell" : "OVERSOLD"}`;
}

async function redisCeiling(
  bench: Bench,
  env: Record<string, string>,
  mode: RedisJob["mode"],
  label: string = mode,
): Promise<RunResult> {
  const { options } = bench;
  // Capacity for everyone: the ceiling measures holds, not sold-out answers.
  const event = await loadScratchEvent(bench.engine, CEILING_TICKETS);
  try {
    const inFlight = mode === "pipelined" ? 128 : 8;
    const jobs: RedisJob[] = Array.from({ length: options.threads }, (_, i) => ({
      redisUrl: options.redisUrl,
      env,
      eventId: event.id,
      userPrefix: `redis-${label}-${i}`,
      mode,
      inFlight: share(inFlight, options.threads, i) || 1,
      durationS: options.seconds,
    }));
    return await redisLoad(bench, jobs);
  } finally {
    await dropEvent(bench.redis, event.id);
  }
}

/** Redis-only load threads for `--seconds`, with what the run cost Redis and the threads. */
function redisLoad(bench: Bench, jobs: RedisJob[]): Promise<RunResult> {
  const load = (onProgress: (n: number) => void) =>
    runThreads(new URL("./redisWorker.ts", import.meta.url), jobs, HOLD_ANSWERS, onProgress);
  return withRedisCost(bench.redis, () =>
    metered({ redis: bench.redis }, () => timedLoad(bench, bench.options.seconds, load)),
  );
}

/** The minimal hold script from the same threads as the pipelined Redis ceiling. */
async function holdFloor(bench: Bench): Promise<RunResult> {
  const { options } = bench;
  const eventId = `floor-${bench.runTag}`;
  await prepareFloor(bench.redis, eventId, CEILING_TICKETS);
  try {
    const jobs: RedisJob[] = Array.from({ length: options.threads }, (_, i) => ({
      redisUrl: options.redisUrl,
      env: bench.env,
      eventId,
      userPrefix: `floor-${i}`,
      mode: "floor",
      inFlight: share(128, options.threads, i) || 1,
      durationS: options.seconds,
    }));
    return await redisLoad(bench, jobs);
  } finally {
    await dropFloor(bench.redis, eventId);
  }
}

async function redisCeilingPhase(bench: Bench): Promise<string> {
  const { seconds } = bench.options;
  bench.progress.step(`floor: the minimal hold script, pipelined, ${seconds} s`);
  bench.runs.holdFloor = await holdFloor(bench);
  bench.progress.step(`pipelined: the hold script through Engine.hold, 128 in flight, ${seconds} s`);
  bench.runs.redisCeiling = await redisCeiling(bench, bench.env, "pipelined");
  bench.progress.step(`single: 8 connections, one hold at a time each, ${seconds} s`);
  bench.runs.redisCeilingSingle = await redisCeiling(bench, bench.env, "single");
  bench.progress.step(`batched: HOLD_BATCH on, pipelined, ${seconds} s`);
  bench.runs.redisBatched = await redisCeiling(bench, { ...bench.env, HOLD_BATCH: "on" }, "pipelined", "batched");
  return `floor ${bench.runs.holdFloor.rps}, pipelined ${bench.runs.redisCeiling.rps}, single ${bench.runs.redisCeilingSingle.rps}, batched ${bench.runs.redisBatched.rps} holds/s`;
}

async function waitingMemoryPhase(bench: Bench): Promise<string> {
  bench.progress.track(bench.options.memoryPeople, "people");
  bench.waiting = await measureWaitingMemory(bench.engine, bench.options.memoryPeople, (n) => bench.progress.update(n));
  return `${bench.waiting.bytesPerWaiting} bytes per waiting person`;
}

async function arrivalsPhase(bench: Bench): Promise<string> {
  const { options, env, url } = bench;
  const nodeArgs = options.profile ? ["--cpu-prof", `--cpu-prof-dir=${join(options.outDir, "profiles")}`] : [];
  bench.progress.step(`starting ${options.workers} serve, 1 work and 1 gateway process(es)`);
  const engines = await Promise.all([
    ...Array.from({ length: options.workers }, (_, i) =>
      startRole(`serve-${i}`, ["serve", "--workers", "1"], env, nodeArgs),
    ),
    startRole("work", ["work"], env, nodeArgs),
    startRole("gateway", ["gateway"], env),
  ]);
  bench.procs.push(...engines);
  bench.progress.step(`creating an event of ${options.tickets} tickets`);
  const eventId = await createEvent(url, options.tickets);
  const mix = new Mix({
    redisUrl: options.redisUrl,
    engineUrl: url,
    eventId,
    webhookSecret: WEBHOOK_SECRET,
    payPercent: options.payPercent,
    cancelPercent: options.cancelPercent,
    concurrency: 64,
  });
  // The on-sale's cost per person runs from the first arrival until the relay has written the log.
  const meter = await new CpuMeter(engineSources(bench, engines, true)).begin();
  bench.onSale = { eventId, mix, engines, meter };
  mix.start();
  const startedMs = Date.now();
  bench.progress.step(`${options.people} people arriving`);
  bench.progress.track(options.people, "people");
  const run = await withRedisCost(bench.redis, () =>
    runLoad({
      url,
      eventId,
      userPrefix: `person-${bench.runTag}`,
      threads: options.threads,
      connections: options.connections,
      amount: options.people,
      durationS: 0,
      okStatuses: BOOKING_ANSWERS,
      onProgress: (n) => bench.progress.update(n, `paid ${mix.counts.payOutcomes.paid ?? 0}`),
    }),
  );
  bench.progress.update(options.people, summary(run));
  bench.runs.engine = run;
  bench.onSale.arrivalMs = Date.now() - startedMs;
  return `${options.people} people in ${bench.onSale.arrivalMs} ms: ${summary(run)}`;
}

async function settlePhase(bench: Bench): Promise<string> {
  const onSale = measured(bench.onSale, "on-sale");
  const startedMs = Date.now();
  bench.progress.track(bench.options.tickets, "tickets paid");
  const ticker = setInterval(
    () =>
      void bench.engine
        .liveEvent(onSale.eventId)
        .then((live) => live && bench.progress.update(live.paid, `held ${live.held}`)),
    500,
  );
  try {
    await onSale.mix.settle(bench.options.settleTimeoutMs);
  } finally {
    clearInterval(ticker);
  }
  onSale.settleMs = Date.now() - startedMs;
  await onSale.mix.stop();
  const { payOutcomes, cancelSent, leftToExpire } = onSale.mix.counts;
  return `settled in ${onSale.settleMs} ms: ${payOutcomes.paid ?? 0} paid, ${cancelSent} cancelled, ${leftToExpire} left to expire`;
}

async function relayPhase(bench: Bench): Promise<string> {
  const onSale = measured(bench.onSale, "on-sale");
  const startedMs = Date.now();
  bench.progress.track(100, "% of the log");
  await waitForRelay(bench.pool, bench.redis, onSale.eventId, bench.options.settleTimeoutMs, (fraction) =>
    bench.progress.update(Math.round(fraction * 100)),
  );
  bench.progress.update(100);
  onSale.relayMs = Date.now() - startedMs;
  const spentUs = await onSale.meter.end();
  const run = measured(bench.runs.engine, "on-sale arrivals");
  // The bench process holds the load threads and the mix: what is not the load threads is the mix.
  spentUs.mix = spentUs.mix! - run.loadgenCpuUs;
  run.cpuUsPerRequest = perRequest({ loadgen: run.loadgenCpuUs, ...spentUs }, run.requests);
  return `relayed in ${onSale.relayMs} ms`;
}

/** The full path with HOLD_BATCH on or off, on a fresh event: at its peak, then at 80% of it. */
async function engineRunOf(bench: Bench, holdBatch: boolean): Promise<[RunResult, RunResult]> {
  const { options, port, gatewayPort } = bench;
  const mode = holdBatch ? "batched" : "single";
  const env = engineEnv(options, port, gatewayPort, holdBatch);
  bench.progress.step(`${mode}: starting ${options.workers} serve process(es)`);
  const servers = await Promise.all(
    Array.from({ length: options.workers }, (_, i) =>
      startRole(`serve-${mode}-${i}`, ["serve", "--workers", "1"], env),
    ),
  );
  bench.procs.push(...servers);
  const eventId = await createEvent(bench.url, options.tickets);
  bench.events.push(eventId);
  const others = measured(bench.onSale, "on-sale").engines.slice(options.workers);
  const sources = engineSources(bench, [...servers, ...others], false);
  if (!holdBatch) {
    bench.progress.step(`idle: the engine's processes for ${IDLE_MS / 1000} s with nothing asked of them`);
    bench.idleCpuUsPerSecond = await idleCost(sources);
  }
  bench.progress.step(`${mode}: at its peak for ${options.seconds} s`);
  const peak = await withRedisCost(bench.redis, () =>
    metered(sources, () => timedLoad(bench, options.seconds, bookingLoad(bench, eventId, mode))),
  );
  // Latency below saturation: the same path held at 80% of the rate it just peaked at.
  const at80Rps = Math.max(1, Math.round(peak.rps * 0.8));
  bench.progress.step(`${mode}: at 80% of its peak (${at80Rps} req/s) for ${options.seconds} s`);
  const at80 = await timedLoad(bench, options.seconds, bookingLoad(bench, eventId, `${mode}80`, at80Rps));
  if (!holdBatch) {
    bench.progress.step(`refusals: every request sold out, ${options.seconds} s`);
    bench.runs.engineRefusals = await refusalRun(bench, sources);
  }
  await retire(bench, servers);
  return [peak, at80];
}

/** CPU per second of the engine's processes with nothing asked of them: what background work costs. */
async function idleCost(sources: CpuSources): Promise<Record<string, number>> {
  const meter = await new CpuMeter(sources).begin();
  await sleep(IDLE_MS);
  return perRequest(await meter.end(), IDLE_MS / 1000);
}

/** The full path answering only refusals: an event whose every ticket is paid, so every request is sold out. */
async function refusalRun(bench: Bench, sources: CpuSources): Promise<RunResult> {
  const eventId = await createEvent(bench.url, REFUSAL_TICKETS);
  bench.events.push(eventId);
  const held = await bench.engine.hold({
    eventId,
    userId: `refusal-${bench.runTag}`,
    quantity: REFUSAL_TICKETS,
    email: "",
    idempotencyKey: "",
  });
  const paid = await bench.engine.confirm(eventId, held.id, `refusal-${bench.runTag}`, held.amount, held.currency);
  if (paid.kind !== "paid") throw new Error(`the refusal run's event was not sold out: ${paid.kind}`);
  return withRedisCost(bench.redis, () =>
    metered(sources, () => timedLoad(bench, bench.options.seconds, bookingLoad(bench, eventId, "refused"))),
  );
}

async function singleVsBatchedPhase(bench: Bench): Promise<string> {
  const { engines } = measured(bench.onSale, "on-sale");
  // The on-sale's serve processes make way; its work and gateway processes stay.
  for (const proc of engines) bench.peakRssBytes[proc.name] = proc.peakRssBytes();
  await stopAll(engines.slice(0, bench.options.workers));
  [bench.runs.engineSingle, bench.runs.engineSingleAt80] = await engineRunOf(bench, false);
  [bench.runs.engineBatched, bench.runs.engineBatchedAt80] = await engineRunOf(bench, true);
  return `single ${summary(bench.runs.engineSingle)}; batched ${summary(bench.runs.engineBatched)}`;
}

async function rivalsPhase(bench: Bench): Promise<string> {
  bench.rivals = await runRivals(bench, (line) => process.stderr.write(`  ${line}\n`));
  return DURABILITY.map(({ level }) => {
    const { strongest, engine, engineToStrongest } = bench.rivals!.levels[level];
    return `${level}: ${engine} ${engineToStrongest.rps}× the strongest rival (${strongest}) in req/s, ${engineToStrongest.cpuPerRequest}× its CPU per request`;
  }).join("; ");
}

async function invariantsPhase(bench: Bench): Promise<string> {
  const { eventId, mix } = measured(bench.onSale, "on-sale");
  bench.progress.step("recounting every booking in Redis and checking PostgreSQL against it");
  const checked = await verifyOnSale(bench.engine, bench.pool, eventId, mix.counts.fcfsViolations);
  const design = measured(bench.postgresDesign, "postgres design");
  if (!design.ok) checked.problems.push(`the PostgreSQL design oversold: ${JSON.stringify(design)}`);
  checked.problems.push(...(bench.rivals?.problems ?? []));
  checked.ok = checked.problems.length === 0;
  bench.checked = checked;
  return checked.ok ? "all held" : `BROKEN: ${checked.problems.join("; ")}`;
}

const pidsOf = (procs: Proc[]) => procs.map((proc) => proc.pid);

/** Where the engine spends CPU: its processes by role, Redis, its PostgreSQL backends, and the mix (this process). */
function engineSources(bench: Bench, engines: Proc[], withMix: boolean): CpuSources {
  const role = (name: string) => pidsOf(engines.filter((proc) => proc.name.split("-")[0] === name));
  const { databaseUrl } = bench.options;
  return {
    pids: {
      serve: role("serve"),
      work: role("work"),
      gateway: role("gateway"),
      ...(withMix ? { mix: [process.pid] } : {}),
    },
    redis: bench.redis,
    postgres: { serverUrl: serverUrlOf(databaseUrl), databases: [databaseNameOf(databaseUrl)] },
  };
}

/** A phase's result, which a later phase or the result needs: missing means a phase was skipped. */
function measured<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the bench has no ${what} result: a phase before did not run`);
  return value;
}

const RUN_NAMES: readonly RunName[] = [
  "httpCeiling",
  "holdFloor",
  "redisCeiling",
  "redisCeilingSingle",
  "redisBatched",
  "engine",
  "engineSingle",
  "engineSingleAt80",
  "engineRefusals",
  "engineBatched",
  "engineBatchedAt80",
  "postgres",
];

function result(bench: Bench, startedMs: number): BenchResult {
  const runs = Object.fromEntries(
    RUN_NAMES.map((name) => [name, measured(bench.runs[name], name)]),
  ) as BenchResult["runs"];
  const onSale = measured(bench.onSale, "on-sale");
  const { redis, postgres, ...invariants } = measured(bench.checked, "invariants");
  const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : 0);
  return {
    people: bench.options.people,
    tickets: bench.options.tickets,
    workers: bench.options.workers,
    durationMs: Date.now() - startedMs,
    startedAt: new Date(startedMs).toISOString(),
    machine: { cpus: cpus().length, loadAverage: loadavg() },
    invariants,
    costTargets: costTargets(runs),
    runs,
    ratios: {
      engineToHttpCeiling: ratio(runs.engine.rps, runs.httpCeiling.rps),
      engineToRedisCeiling: ratio(runs.engine.rps, runs.redisCeiling.rps),
      engineToPostgres: ratio(runs.engine.rps, runs.postgres.rps),
      redisBatchedToSingle: ratio(runs.redisBatched.rps, runs.redisCeiling.rps),
      engineBatchedToSingle: ratio(runs.engineBatched.rps, runs.engineSingle.rps),
    },
    onSale: {
      arrivalMs: measured(onSale.arrivalMs, "arrival time"),
      settleMs: measured(onSale.settleMs, "settle time"),
      relayMs: measured(onSale.relayMs, "relay time"),
      mix: onSale.mix.counts,
      redis,
      postgres,
      postgresDesign: measured(bench.postgresDesign, "postgres design"),
    },
    memory: { waiting: measured(bench.waiting, "waiting memory"), peakRssBytes: bench.peakRssBytes },
    idleCpuUsPerSecond: measured(bench.idleCpuUsPerSecond, "idle cost"),
    ...(bench.rivals ? { rivals: bench.rivals } : {}),
  };
}

async function openBench(options: BenchOptions, progress: Progress): Promise<Bench> {
  await ensureDatabase(options.databaseUrl);
  const pool = createPool(options.databaseUrl, 4);
  await migrate(pool);
  const redis = new Redis(options.redisUrl);
  const port = await freePort();
  const gatewayPort = await freePort();
  const env = engineEnv(options, port, gatewayPort);
  return {
    options,
    env,
    port,
    gatewayPort,
    url: `http://127.0.0.1:${port}`,
    runTag: Date.now().toString(36),
    redis,
    engine: new Engine(redis, loadConfig(env)),
    pool,
    progress,
    procs: [],
    peakRssBytes: {},
    events: [],
    runs: {},
  };
}

async function closeBench(bench: Bench): Promise<void> {
  try {
    await stopAll(bench.procs);
    // Half a million booking hashes would stay in Redis for BOOKING_RETENTION_SECONDS.
    const events = bench.onSale ? [bench.onSale.eventId, ...bench.events] : bench.events;
    for (const id of events) await dropEvent(bench.redis, id);
  } finally {
    bench.redis.disconnect();
    await bench.pool.end();
  }
}

export async function runBench(options: BenchOptions, progress = new Progress()): Promise<BenchResult> {
  const startedMs = Date.now();
  const bench = await openBench(options, progress);
  try {
    const phases = PHASES.filter((phase) => phase.only === undefined || options[phase.only]);
    for (const [index, phase] of phases.entries()) {
      progress.begin(index, phases.length, phase);
      progress.end(await phase.run(bench));
    }
    return result(bench, startedMs);
  } finally {
    await closeBench(bench);
  }
}
