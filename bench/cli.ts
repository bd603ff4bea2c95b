import { parseArgs } from "node:util";
import { costTable, serverCpuUs, targetLines } from "./costs.js";
import { mixLine } from "./rivals.js";
import { writeResults } from "./report.js";
import { runBench } from "./run.js";
import { DEFAULTS, type BenchOptions } from "./setup.js";

// npm run bench -- [options]; --help lists them. Exits 1 when an invariant broke.

type CountKey =
  | "people"
  | "tickets"
  | "workers"
  | "threads"
  | "connections"
  | "seconds"
  | "holdSeconds"
  | "rivalPeople";

interface CountOption {
  flag: string;
  key: CountKey;
  min: number;
  max: number;
  what: string;
}

/** Whole-number options: their flag, the BenchOptions field, the range accepted, and what they set. */
const COUNTS: readonly CountOption[] = [
  {
    flag: "people",
    key: "people",
    min: 1,
    max: 10_000_000,
    what: "distinct people arriving in the on-sale (each a new userId)",
  },
  { flag: "tickets", key: "tickets", min: 1, max: 10_000_000, what: "the on-sale event's capacity" },
  { flag: "workers", key: "workers", min: 1, max: 64, what: "HTTP server processes sharing one port" },
  { flag: "threads", key: "threads", min: 1, max: 64, what: "load-generator threads" },
  { flag: "connections", key: "connections", min: 1, max: 10_000, what: "HTTP connections, split over the threads" },
  {
    flag: "seconds",
    key: "seconds",
    min: 1,
    max: 600,
    what: "length of each fixed-time run (ceilings, PostgreSQL design, single vs batched)",
  },
  {
    flag: "rival-people",
    key: "rivalPeople",
    min: 10,
    max: 10_000_000,
    what: "people in each --rivals run (tickets in proportion to --tickets/--people, line of half)",
  },
  {
    flag: "hold-seconds",
    key: "holdSeconds",
    min: 1,
    max: 3600,
    what: "HOLD_SECONDS of the engine, short so unpaid holds expire during the run",
  },
];

const HELP = [
  "npm run bench -- [options]",
  "",
  "The on-sale benchmark: HTTP and Redis ceilings, a plain PostgreSQL design, the on-sale through",
  "the full path with payments, cancels and expiries, single vs batched holds, memory per waiting",
  "person, and the invariants. Results in bench/results/latest.json and report.html; exits 1 when",
  "an invariant broke. Details: bench/README.md.",
  "",
  "Options:",
  ...COUNTS.map((o) => `  --${`${o.flag} N`.padEnd(22)} ${o.what} (${o.min}-${o.max}, default ${DEFAULTS[o.key]})`),
  `  --${"hold-batch on|off".padEnd(22)} group commit (HOLD_BATCH) for the on-sale run (default ${DEFAULTS.holdBatch ? "on" : "off"})`,
  `  --${"redis-url U".padEnd(22)} Redis the engine and the bench use (default $REDIS_URL or ${DEFAULTS.redisUrl})`,
  `  --${"database-url U".padEnd(22)} PostgreSQL database of the engine (default $DATABASE_URL or ${DEFAULTS.databaseUrl})`,
  `  --${"rivals".padEnd(22)} also run the engine beside its PostgreSQL rivals at matched durability (AOF everysec vs synchronous_commit=off, always vs on)`,
  `  --${"profile".padEnd(22)} run the engine processes under node --cpu-prof (profiles in bench/results/profiles)`,
  `  --${"help".padEnd(22)} print this and exit`,
  "",
].join("\n");

function parseOptions(args: string[]): BenchOptions | "help" {
  const { values: parsed } = parseArgs({
    args,
    options: {
      ...Object.fromEntries(COUNTS.map((o) => [o.flag, { type: "string" as const }])),
      "hold-batch": { type: "string" },
      "redis-url": { type: "string" },
      "database-url": { type: "string" },
      profile: { type: "boolean" },
      rivals: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const values = parsed as Record<string, string | boolean | undefined>;
  if (values.help) return "help";
  const options: BenchOptions = {
    ...DEFAULTS,
    redisUrl: (values["redis-url"] as string | undefined) ?? DEFAULTS.redisUrl,
    databaseUrl: (values["database-url"] as string | undefined) ?? DEFAULTS.databaseUrl,
    profile: (values.profile as boolean | undefined) ?? false,
    rivals: (values.rivals as boolean | undefined) ?? false,
    holdBatch: onOff(values["hold-batch"] as string | undefined),
  };
  for (const o of COUNTS) options[o.key] = count(o, values[o.flag] as string | undefined);
  return options;
}

function count(option: CountOption, raw: string | undefined): number {
  if (raw === undefined) return DEFAULTS[option.key];
  const value = Number(raw.replace(/_/g, ""));
  if (!Number.isSafeInteger(value) || value < option.min || value > option.max) {
    throw new Error(`--${option.flag} must be a whole number from ${option.min} to ${option.max}, got "${raw}"`);
  }
  return value;
}

function onOff(raw: string | undefined): boolean {
  if (raw === undefined) return DEFAULTS.holdBatch;
  if (raw !== "on" && raw !== "off") throw new Error(`--hold-batch must be on or off, got "${raw}"`);
  return raw === "on";
}

function rivalLines(result: Awaited<ReturnType<typeof runBench>>): string[] {
  if (!result.rivals) return [];
  const { people, tickets, lineMax, levels } = result.rivals;
  return [
    `rivals: ${people} people, ${tickets} tickets, line of ${lineMax}`,
    ...Object.entries(levels).flatMap(([level, l]) => [
      ...Object.entries(l.runs).map(
        ([design, r]) =>
          `  ${level.padEnd(9)} ${design.padEnd(14)} ${String(r.rps).padStart(7)} req/s  system ${serverCpuUs(r)} µs/request  ${mixLine(l.mix[design as keyof typeof l.mix])}`,
      ),
      `  ${level}: ${l.engine} ${l.engineToStrongest.rps}× the strongest rival (${l.strongest}) in req/s, ${l.engineToStrongest.cpuPerRequest}× its CPU per request`,
    ]),
  ];
}

let options: BenchOptions | "help";
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n\n${HELP}`);
  process.exit(2);
}
if (options === "help") {
  process.stdout.write(HELP);
  process.exit(0);
}

const command = `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim();
const result = await runBench(options);
const files = writeResults(result, options.outDir, command);
const line = (name: string, r: { rps: number; p50Ms: number; p99Ms: number; p999Ms: number; errors: number }) =>
  `${name.padEnd(20)} ${String(r.rps).padStart(8)} req/s  p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  p99.9 ${r.p999Ms} ms  errors ${r.errors}`;
process.stdout.write(
  [
    "",
    ...costTable(result.runs),
    "",
    `engine idle, CPU µs per second: ${Object.entries(result.idleCpuUsPerSecond)
      .map(([name, us]) => `${name} ${us}`)
      .join(", ")}`,
    "cost targets (ratios in this run):",
    ...targetLines(result.costTargets),
    "",
    ...Object.entries(result.runs).map(([name, r]) => line(name, r)),
    `ratios: engine/http ${result.ratios.engineToHttpCeiling}  engine/redis ${result.ratios.engineToRedisCeiling}`,
    `group commit: redis batched/single ${result.ratios.redisBatchedToSingle}  engine batched/single ${result.ratios.engineBatchedToSingle}`,
    `on-sale: ${result.people} people in ${result.onSale.arrivalMs} ms, settled in ${result.onSale.settleMs} ms, relayed in ${result.onSale.relayMs} ms`,
    `redis memory per waiting person: ${result.memory.waiting.bytesPerWaiting} bytes`,
    `invariants: ${result.invariants.ok ? "ok" : `BROKEN: ${result.invariants.problems.join("; ")}`}`,
    ...rivalLines(result),
    `results: ${files.json}, ${files.html}`,
    "",
  ].join("\n"),
);
process.exit(result.invariants.ok ? 0 : 1);
