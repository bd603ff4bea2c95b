import { Redis } from "ioredis";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../bin/app.js";
import { startProc, startRole, stopAll, type Proc } from "../testkit/processes.js";
import { databaseNameOf, metered, serverUrlOf } from "./cpu.js";
import { serverCpuUs } from "./costs.js";
import { runLoad, type RunResult } from "./load.js";
import { RIVALS, checkRival, prepareRival, rivalDatabaseUrl, type Rival } from "./postgres/rivals.js";
import type { Progress } from "./progress.js";
import { BOOKING_ANSWERS, createEvent, engineEnv, type BenchOptions } from "./setup.js";

// The engine beside its PostgreSQL rivals at matched durability, on the same workload. Each
// level runs the engine on a redis-server of its own with the level's AOF setting, then each
// rival with its sessions' synchronous_commit. Every run gets the same requests: `people`
// new people asking for 1-4 tickets each, against `tickets` tickets and a line of `lineMax`,
// nothing paid or expiring, so every design answers the same mix of held, waiting, refused.

export const DURABILITY = [
  {
    level: "everysec",
    appendfsync: "everysec",
    synchronousCommit: "off",
    what: "Redis AOF everysec vs PostgreSQL synchronous_commit=off (a host crash loses up to ~1 s of answers)",
  },
  {
    level: "always",
    appendfsync: "always",
    synchronousCommit: "on",
    what: "Redis appendfsync always vs PostgreSQL synchronous_commit=on (nothing answered is lost)",
  },
] as const;

type Level = (typeof DURABILITY)[number]["level"];
/** The engine with holds one by one and with group commit (HOLD_BATCH), then each rival. */
const ENGINES = ["engine", "engineBatched"] as const;
type Design = (typeof ENGINES)[number] | Rival;

export interface RivalsResult {
  people: number;
  tickets: number;
  lineMax: number;
  levels: Record<
    Level,
    {
      runs: Record<Design, RunResult>;
      /** Answers of each run: held (201), waiting (202), refused (409). */
      mix: Record<Design, { held: number; waiting: number; refused: number }>;
      /** The rival with the most requests per second, and the engine's multiple of it (its faster mode's). */
      strongest: Rival;
      engine: (typeof ENGINES)[number];
      engineToStrongest: { rps: number; cpuPerRequest: number };
    }
  >;
  /** Rivals that oversold or let the line grow past its room (none, when all is well). */
  problems: string[];
}

export interface RivalsBench {
  options: BenchOptions;
  port: number;
  gatewayPort: number;
  runTag: string;
  progress: Progress;
  procs: Proc[];
}

/** Sizes of the rivals' workload: a tenth of the people get stock as in the on-sale, half of them fit in line. */
export function rivalWorkload(options: BenchOptions): { people: number; tickets: number; lineMax: number } {
  const people = options.rivalPeople;
  return {
    people,
    tickets: Math.max(1, Math.round((options.tickets * people) / options.people)),
    lineMax: Math.max(1, Math.floor(people / 2)),
  };
}

const mixOf = (run: RunResult) => ({
  held: run.statuses["201"] ?? 0,
  waiting: run.statuses["202"] ?? 0,
  refused: run.statuses["409"] ?? 0,
});
export const mixLine = (mix: { held: number; waiting: number; refused: number }) =>
  `held ${mix.held} / waiting ${mix.waiting} / refused ${mix.refused}`;

/** All `people` requests, as fast as they are answered, with a bar. */
function workload(bench: RivalsBench, url: string, eventId: string, prefix: string): () => Promise<RunResult> {
  const { options } = bench;
  const { people } = rivalWorkload(options);
  return () => {
    bench.progress.track(people, "people");
    return runLoad({
      url,
      eventId,
      userPrefix: `${prefix}-${bench.runTag}`,
      threads: options.threads,
      connections: options.connections,
      amount: people,
      durationS: 0,
      okStatuses: BOOKING_ANSWERS,
      onProgress: (n) => bench.progress.update(n),
    });
  };
}

async function startRedis(appendfsync: string): Promise<{ proc: Proc; url: string; dir: string }> {
  const port = await freePort();
  // On the same disk as PostgreSQL's WAL, so both fsync to the same device.
  const dir = mkdtempSync(join(tmpdir(), "onsale-bench-aof-"));
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    appendfsync,
    "--dir",
    dir,
  ];
  const proc = await startProc({
    name: `redis-${appendfsync}`,
    command: "redis-server",
    args,
    readyWhen: /Ready to accept connections/,
  });
  return { proc, url: `redis://127.0.0.1:${port}`, dir };
}

async function engineAt(bench: RivalsBench, appendfsync: string, design: (typeof ENGINES)[number]): Promise<RunResult> {
  const { options, port, gatewayPort } = bench;
  const { tickets, lineMax } = rivalWorkload(options);
  const redisServer = await startRedis(appendfsync);
  bench.procs.push(redisServer.proc);
  const redis = new Redis(redisServer.url);
  try {
    const env = {
      ...engineEnv({ ...options, redisUrl: redisServer.url }, port, gatewayPort, design === "engineBatched"),
      LINE_MAX: String(lineMax),
      HOLD_SECONDS: "3600",
    };
    const serves = await Promise.all(
      Array.from({ length: options.workers }, (_, i) =>
        startRole(`serve-${design}-${i}`, ["serve", "--workers", "1"], env),
      ),
    );
    const work = await startRole(`work-${design}`, ["work"], env);
    const engines = [...serves, work];
    bench.procs.push(...engines);
    const url = `http://127.0.0.1:${port}`;
    const eventId = await createEvent(url, tickets);
    const sources = {
      pids: { serve: serves.map((proc) => proc.pid), work: [work.pid] },
      redis,
      postgres: { serverUrl: serverUrlOf(options.databaseUrl), databases: [databaseNameOf(options.databaseUrl)] },
    };
    const run = await metered(sources, workload(bench, url, eventId, `${design}-${appendfsync}`));
    await stopAll(engines);
    return run;
  } finally {
    redis.disconnect();
    await redisServer.proc.stop();
    rmSync(redisServer.dir, { recursive: true, force: true });
  }
}

async function rivalAt(
  bench: RivalsBench,
  rival: Rival,
  synchronousCommit: string,
  problems: string[],
): Promise<RunResult> {
  const { options, port } = bench;
  const { tickets, lineMax } = rivalWorkload(options);
  const databaseUrl = rivalDatabaseUrl(options.databaseUrl);
  const eventId = await prepareRival(databaseUrl, tickets, lineMax);
  // One writer per event means one process; the others share the cores' worth of connections.
  const processes = rival === "writer" ? 1 : options.workers;
  const env = {
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    HOLD_SECONDS: "3600",
    LINE_MAX: String(lineMax),
    SYNCHRONOUS_COMMIT: synchronousCommit,
    PG_POOL_MAX: String(rival === "writer" ? 1 : Math.max(1, Math.floor(cpus().length / processes))),
  };
  const servers = await Promise.all(
    Array.from({ length: processes }, (_, i) =>
      startProc({
        name: `rival-${rival}-${i}`,
        script: "bench/servers.ts",
        args: ["rival", rival],
        env,
        readyWhen: /listening/,
      }),
    ),
  );
  bench.procs.push(...servers);
  const sources = {
    pids: { rival: servers.map((s) => s.pid) },
    postgres: { serverUrl: serverUrlOf(databaseUrl), databases: [databaseNameOf(databaseUrl)] },
  };
  const run = await metered(sources, workload(bench, `http://127.0.0.1:${port}`, eventId, `rival-${rival}`));
  await stopAll(servers);
  const check = await checkRival(databaseUrl, eventId, rival);
  if (!check.ok)
    problems.push(`rival ${rival} (synchronous_commit=${synchronousCommit}) does not add up: ${JSON.stringify(check)}`);
  return run;
}

/** Engine and every rival at each durability level; `onRun` is told each finished run. */
export async function runRivals(bench: RivalsBench, onRun: (line: string) => void): Promise<RivalsResult> {
  const problems: string[] = [];
  const levels = {} as RivalsResult["levels"];
  for (const durability of DURABILITY) {
    const runs = {} as Record<Design, RunResult>;
    const told = (design: Design) =>
      onRun(
        `${durability.level} ${design}: ${runs[design].rps} req/s, ${serverCpuUs(runs[design])} µs CPU per request; ${mixLine(mixOf(runs[design]))}`,
      );
    for (const design of ENGINES) {
      runs[design] = await engineAt(bench, durability.appendfsync, design);
      told(design);
    }
    for (const rival of RIVALS) {
      runs[rival] = await rivalAt(bench, rival, durability.synchronousCommit, problems);
      told(rival);
    }
    const strongest = RIVALS.reduce((best, rival) => (runs[rival].rps > runs[best].rps ? rival : best));
    const engine = ENGINES.reduce((best, design) => (runs[design].rps > runs[best].rps ? design : best));
    const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : 0);
    levels[durability.level] = {
      runs,
      mix: Object.fromEntries(
        Object.entries(runs).map(([design, run]) => [design, mixOf(run)]),
      ) as RivalsResult["levels"][Level]["mix"],
      strongest,
      engine,
      engineToStrongest: {
        rps: ratio(runs[engine].rps, runs[strongest].rps),
        cpuPerRequest: ratio(serverCpuUs(runs[engine]), serverCpuUs(runs[strongest])),
      },
    };
  }
  return { ...rivalWorkload(bench.options), levels, problems };
}
