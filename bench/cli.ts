import { parseArgs } from "node:util";
import { DEFAULTS, runBench, writeResults, type BenchOptions } from "./run.js";

// npm run bench -- --people N --tickets N --workers N [--redis-url U] [--database-url U]
//   [--threads N] [--connections N] [--seconds S] [--hold-seconds S] [--hold-batch on|off] [--profile]
// Exits 1 when an invariant broke.

const { values } = parseArgs({
  options: {
    people: { type: "string" },
    tickets: { type: "string" },
    workers: { type: "string" },
    threads: { type: "string" },
    connections: { type: "string" },
    seconds: { type: "string" },
    "hold-seconds": { type: "string" },
    "redis-url": { type: "string" },
    "database-url": { type: "string" },
    profile: { type: "boolean" },
    "hold-batch": { type: "string" },
  },
});

function count(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw.replace(/_/g, ""));
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  return value;
}

const options: BenchOptions = {
  ...DEFAULTS,
  people: count("people", values.people, DEFAULTS.people, 1, 10_000_000),
  tickets: count("tickets", values.tickets, DEFAULTS.tickets, 1, 10_000_000),
  workers: count("workers", values.workers, DEFAULTS.workers, 1, 64),
  threads: count("threads", values.threads, DEFAULTS.threads, 1, 64),
  connections: count("connections", values.connections, DEFAULTS.connections, 1, 10_000),
  seconds: count("seconds", values.seconds, DEFAULTS.seconds, 1, 600),
  holdSeconds: count("hold-seconds", values["hold-seconds"], DEFAULTS.holdSeconds, 1, 3600),
  redisUrl: values["redis-url"] ?? DEFAULTS.redisUrl,
  databaseUrl: values["database-url"] ?? DEFAULTS.databaseUrl,
  profile: values.profile ?? false,
  holdBatch: onOff(values["hold-batch"]),
};

function onOff(raw: string | undefined): boolean {
  if (raw === undefined) return DEFAULTS.holdBatch;
  if (raw !== "on" && raw !== "off") throw new Error(`--hold-batch must be on or off, got "${raw}"`);
  return raw === "on";
}

const command = `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim();
const result = await runBench(options);
const files = writeResults(result, options.outDir, command);
const line = (name: string, r: { rps: number; p50Ms: number; p99Ms: number; p999Ms: number; errors: number }) =>
  `${name.padEnd(20)} ${String(r.rps).padStart(8)} req/s  p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  p99.9 ${r.p999Ms} ms  errors ${r.errors}`;
process.stdout.write(
  [
    "",
    ...Object.entries(result.runs).map(([name, r]) => line(name, r)),
    `ratios: engine/http ${result.ratios.engineToHttpCeiling}  engine/redis ${result.ratios.engineToRedisCeiling}  engine/postgres ${result.ratios.engineToPostgres}`,
    `group commit: redis batched/single ${result.ratios.redisBatchedToSingle}  engine batched/single ${result.ratios.engineBatchedToSingle}`,
    `on-sale: ${result.people} people in ${result.onSale.arrivalMs} ms, settled in ${result.onSale.settleMs} ms, relayed in ${result.onSale.relayMs} ms`,
    `redis memory per waiting person: ${result.memory.waiting.bytesPerWaiting} bytes`,
    `invariants: ${result.invariants.ok ? "ok" : `BROKEN: ${result.invariants.problems.join("; ")}`}`,
    `results: ${files.json}, ${files.html}`,
    "",
  ].join("\n"),
);
process.exit(result.invariants.ok ? 0 : 1);
