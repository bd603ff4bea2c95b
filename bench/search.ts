import autocannon from "autocannon";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { freePort } from "../bin/app.js";
import { progressBar } from "../bin/progress.js";
import { generateEvents } from "../search/generate.js";
import { createPool } from "../sql/db.js";
import { analyzeEvents, countEvents } from "../sql/events.js";
import { ensureDatabase, migrate } from "../sql/migrate.js";
import { cannonBase, reportRun } from "./threadReport.js";
import { runLoad, runThreads, type RunResult } from "./load.js";
import { ROOT, startRole, stopAll, type Proc } from "../testkit/processes.js";

// Search beside the hold path, in one run on one machine (npm run bench:search):
//   hold           POST /bookings, every request a new person (bench/loadWorker.ts)
//   search         GET /events?search=… typo'd and partial names and venues, Redis cache off
//                  (also with one connection: latency without queueing)
//   search+dates   the same words within a month, cache off
//   listing        GET /events?start_date&end_date (no words), cache off
//   search cached  the search mix with SEARCH_CACHE_MS=2000 (a second serve process)
// over BENCH_SEARCH_EVENTS (default 100,000) generated events. Each run lasts
// BENCH_SEARCH_SECONDS with BENCH_SEARCH_CONNECTIONS connections; figures are ratios to hold.
// PostgreSQL: BENCH_DATABASE_URL; Redis: BENCH_REDIS_URL (db 14 by default, not a test slot).
// This file is also its own load worker thread (GET requests rotating through a query list).

const ADMIN_TOKEN = "bench-search-admin";

const WORDS = [
  "tayler swif",
  "beyonce",
  "coldplay",
  "rosalia",
  "stade de france",
  "東京ドーム",
  "metalica",
  "ed sheran",
  "wembley",
  "barcelona real madrid",
  "hamilton",
  "bts",
  "bjork reykjavik",
  "sigur ros",
  "madison square",
  "andrea boceli",
  "daft punk",
  "helene fischer",
  "cirque du soleil",
  "olympiastadion berlin",
];

interface SearchJob {
  url: string;
  paths: string[];
  connections: number;
  durationS: number;
}

/** Worker thread: GETs the paths in turn for durationS and reports latencies like bench/loadWorker.ts. */
async function searchWorker(job: SearchJob): Promise<void> {
  let n = 0;
  const instance = autocannon({
    ...cannonBase(job.url, job.connections),
    duration: job.durationS,
    requests: [{ method: "GET", setupRequest: (request) => ({ ...request, path: job.paths[n++ % job.paths.length] }) }],
  });
  await reportRun(instance, parentPort!);
}

function settings() {
  const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
  return {
    databaseUrl: process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/onsale_bench_search",
    // A database of its own: the hold run leaves its bookings behind.
    redisUrl: process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/14",
    events: num("BENCH_SEARCH_EVENTS", 100_000),
    durationS: num("BENCH_SEARCH_SECONDS", 10),
    connections: num("BENCH_SEARCH_CONNECTIONS", 32),
    threads: num("BENCH_SEARCH_THREADS", 1),
  };
}

/** Fills the bench database up to the wanted number of events. */
async function ensureEvents(databaseUrl: string, wanted: number): Promise<number> {
  await ensureDatabase(databaseUrl);
  const pool = createPool(databaseUrl, 2);
  try {
    await migrate(pool);
    const have = await countEvents(pool);
    if (have < wanted) {
      const bar = progressBar("generate");
      await generateEvents(pool, {
        count: wanted - have,
        seed: have + 1,
        batch: 2000,
        onProgress: (done) => bar.progress(done, wanted - have),
      });
      bar.stop();
      await analyzeEvents(pool);
    }
    return Math.max(have, wanted);
  } finally {
    await pool.end();
  }
}

async function serve(name: string, s: ReturnType<typeof settings>, port: number, cacheMs: number): Promise<Proc> {
  return startRole(name, ["serve"], {
    PORT: String(port),
    MOCK_GATEWAY_PORT: String(await freePort()),
    REDIS_URL: s.redisUrl,
    DATABASE_URL: s.databaseUrl,
    DATABASE_READ_URL: s.databaseUrl,
    PGBOSS_SCHEMA: "pgboss_bench_search",
    ADMIN_TOKEN,
    LOG_LEVEL: "info",
    SEARCH_CACHE_MS: String(cacheMs),
    LINE_MAX: "10000000",
  });
}

function searchPaths(withDates: boolean): string[] {
  const year = new Date().getUTCFullYear() + 1;
  return WORDS.map((words, i) => {
    const month = String(1 + (i % 12)).padStart(2, "0");
    const dates = withDates ? `&start_date=${year}-${month}-01&end_date=${year}-${month}-28` : "";
    return `/events?search=${encodeURIComponent(words)}${dates}&limit=20`;
  });
}

function listingPaths(): string[] {
  const year = new Date().getUTCFullYear() + 1;
  return Array.from(
    { length: 12 },
    (_, i) =>
      `/events?start_date=${year}-${String(i + 1).padStart(2, "0")}-01&end_date=${year}-${String(i + 1).padStart(2, "0")}-07&limit=20`,
  );
}

function htmlReport(rows: [string, RunResult][], header: string): string {
  const maxRps = Math.max(...rows.map(([, r]) => r.rps), 1);
  const bars = rows
    .map(
      ([name, r], i) =>
        `<text x="0" y="${i * 28 + 18}">${name}</text><rect x="150" y="${i * 28 + 4}" height="20" width="${(r.rps / maxRps) * 500}" fill="#4a7"/><text x="${160 + (r.rps / maxRps) * 500}" y="${i * 28 + 18}">${r.rps} req/s · p50 ${r.p50Ms} ms · p99 ${r.p99Ms} ms</text>`,
    )
    .join("");
  const curves = rows
    .map(
      ([name, r]) =>
        `<h3>${name}: latency histogram</h3><svg width="900" height="120">${r.histogram
          .map(
            ([ms, count], i, all) =>
              `<rect x="${(i / all.length) * 880}" y="${100 - (count / Math.max(...all.map(([, c]) => c))) * 100}" width="${880 / all.length}" height="${(count / Math.max(...all.map(([, c]) => c))) * 100}" fill="#47a"><title>≤${ms} ms: ${count}</title></rect>`,
          )
          .join(
            "",
          )}<text x="0" y="115">${r.histogram[0]?.[0] ?? 0} ms</text><text x="800" y="115">${r.histogram.at(-1)?.[0] ?? 0} ms</text></svg>`,
    )
    .join("");
  return `<!doctype html><meta charset="utf-8"><title>Search benchmark</title><body style="font:14px sans-serif"><h1>Search beside the hold path</h1><p>${header}</p><svg width="1100" height="${rows.length * 28 + 10}">${bars}</svg>${curves}</body>`;
}

async function main(): Promise<void> {
  const s = settings();
  const events = await ensureEvents(s.databaseUrl, s.events);
  const [portNoCache, portCache] = [await freePort(), await freePort()];
  const children: Proc[] = [];
  try {
    children.push(await serve("serve-nocache", s, portNoCache, 0), await serve("serve-cache", s, portCache, 2000));
    const base = `http://127.0.0.1:${portNoCache}`;
    const created = await fetch(`${base}/admin/events`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({
        name: "Bench hold path",
        venue: "Bench Arena",
        startsAt: "2030-01-01T20:00:00Z",
        timeZone: "UTC",
        capacity: 10_000_000,
        price: 1000,
        currency: "EUR",
        maxPerUser: 4,
      }),
    });
    const eventId = ((await created.json()) as { id: string }).id;
    const gets = (url: string, paths: string[], connections = s.connections) =>
      runThreads(
        new URL(import.meta.url),
        Array.from(
          { length: Math.min(s.threads, connections) },
          (): SearchJob => ({ url, paths, connections: Math.ceil(connections / s.threads), durationS: s.durationS }),
        ),
        ["200"],
      );
    const rows: [string, RunResult][] = [];
    const run = async (name: string, go: () => Promise<RunResult>) => {
      process.stdout.write(`${name}… `);
      const result = await go();
      rows.push([name, result]);
      process.stdout.write(
        `${result.rps} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, errors ${result.errors}\n`,
      );
    };
    await run("hold", () =>
      runLoad({
        url: base,
        eventId,
        userPrefix: `bs${Date.now()}`,
        threads: s.threads,
        connections: s.connections,
        amount: 0,
        durationS: s.durationS,
        okStatuses: ["201", "202", "409"],
      }),
    );
    // One client at a time: latency without queueing behind other searches.
    await run("search, 1 connection", () => gets(base, searchPaths(false), 1));
    await run("search", () => gets(base, searchPaths(false)));
    await run("search+dates", () => gets(base, searchPaths(true)));
    await run("listing by dates", () => gets(base, listingPaths()));
    await run("search cached", () => gets(`http://127.0.0.1:${portCache}`, searchPaths(false)));

    const hold = rows[0]![1];
    const header = `${events.toLocaleString("en")} events, ${s.durationS} s per run, ${s.connections} connections, ${s.threads} load thread(s), one serve process each; ${new Date().toISOString()}`;
    const table = [
      "| run | req/s | p50 ms | p99 ms | errors | req/s ÷ hold |",
      "|---|---:|---:|---:|---:|---:|",
      ...rows.map(
        ([name, r]) =>
          `| ${name} | ${r.rps} | ${r.p50Ms} | ${r.p99Ms} | ${r.errors} | ${(r.rps / Math.max(hold.rps, 1)).toFixed(2)} |`,
      ),
    ].join("\n");
    process.stdout.write(`\n${header}\n\n${table}\n`);
    const dir = join(ROOT, "bench", "results");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "search.json"), JSON.stringify({ header, runs: Object.fromEntries(rows) }, null, 2));
    writeFileSync(join(dir, "search.html"), htmlReport(rows, header));
    process.stdout.write(`\nreport: bench/results/search.html, bench/results/search.json\n`);
  } finally {
    await stopAll(children);
  }
}

if (isMainThread) {
  main().catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  });
} else if (parentPort !== null && workerData !== undefined) {
  await searchWorker(workerData as SearchJob);
}
