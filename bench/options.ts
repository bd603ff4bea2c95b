import { parseArgs } from "node:util";
import { UsageError } from "../bin/commandLine.js";
import { wholeNumberIn } from "../engine/text.js";
import { DEFAULTS, type BenchOptions } from "./setup.js";

// The command line of `npm run bench`, read with node:util parseArgs (strict: an unknown option,
// a missing value or a stray argument is refused). Every value is checked here, so a typo stops
// the run before it starts processes, not minutes into it.

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

export const HELP = [
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

export function parseOptions(args: string[]): BenchOptions | "help" {
  const { values: parsed } = parseStrict({
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
    redisUrl: url("redis-url", values["redis-url"] as string | undefined, DEFAULTS.redisUrl, ["redis:", "rediss:"]),
    databaseUrl: url("database-url", values["database-url"] as string | undefined, DEFAULTS.databaseUrl, [
      "postgres:",
      "postgresql:",
    ]),
    profile: (values.profile as boolean | undefined) ?? false,
    rivals: (values.rivals as boolean | undefined) ?? false,
    holdBatch: onOff(values["hold-batch"] as string | undefined),
  };
  for (const o of COUNTS) options[o.key] = count(o, values[o.flag] as string | undefined);
  return options;
}

/** parseArgs, its errors turned into UsageError. */
function parseStrict(config: Parameters<typeof parseArgs>[0]) {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function count(option: CountOption, raw: string | undefined): number {
  if (raw === undefined) return DEFAULTS[option.key];
  const value = wholeNumberIn(raw, option.min, option.max);
  if (value === null) {
    throw new UsageError(`--${option.flag} must be a whole number from ${option.min} to ${option.max}, got "${raw}"`);
  }
  return value;
}

function onOff(raw: string | undefined): boolean {
  if (raw === undefined) return DEFAULTS.holdBatch;
  if (raw !== "on" && raw !== "off") throw new UsageError(`--hold-batch must be on or off, got "${raw}"`);
  return raw === "on";
}

function url(flag: string, raw: string | undefined, fallback: string, protocols: string[]): string {
  if (raw === undefined) return fallback;
  const parsed = URL.canParse(raw) ? new URL(raw) : undefined;
  if (!parsed || !protocols.includes(parsed.protocol)) {
    throw new UsageError(`--${flag} must be a ${protocols.map((p) => `${p}//`).join(" or ")} URL, got "${raw}"`);
  }
  return raw;
}
