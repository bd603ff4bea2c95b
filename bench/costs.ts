import type { RunResult } from "./load.js";

// What one request costs each process (CPU µs, from the run's cpuUsPerRequest), and the cost
// targets as ratios of runs made side by side: on a shared machine throughput swings, the CPU
// a request takes does not swing nearly as much.

/** Processes that are the system under test; the load generator and the mix are not. */
export const SERVER_PROCESSES: readonly string[] = [
  "serve",
  "work",
  "gateway",
  "redis",
  "postgres",
  "ceiling",
  "pgdesign",
  "rival",
];
/** Columns of the cost table, in this order; a run shows the ones it measured. */
export const COST_COLUMNS = ["loadgen", "mix", ...SERVER_PROCESSES] as const;

/** CPU µs per request of the processes under test, added up. */
export function serverCpuUs(run: RunResult): number {
  const cost = run.cpuUsPerRequest ?? {};
  return Math.round(SERVER_PROCESSES.reduce((total, name) => total + (cost[name] ?? 0), 0) * 10) / 10;
}

export interface CostTarget {
  target: string;
  /** How it was measured, from which runs. */
  measured: string;
  value: number;
  limit: number;
  met: boolean;
}

/** The engine's whole CPU budget per person: every process under test, added up. */
export const ENGINE_TARGET_US = 100;
/** The machine the engine is sized for. */
export const TARGET_CORES = 2;
/** p99 latency the product needs below saturation, at 80% of the peak rate. */
export const P99_AT_80_LIMIT_MS = 20;

const round2 = (n: number) => Math.round(n * 100) / 100;
const cpu = (run: RunResult | undefined, name: string) => run?.cpuUsPerRequest?.[name] ?? 0;

/** Each target whose runs were measured: its ratio (or µs) beside its limit. */
export function costTargets(runs: Partial<Record<string, RunResult>>): CostTarget[] {
  const targets: CostTarget[] = [];
  const add = (target: string, measured: string, value: number, limit: number) => {
    if (Number.isFinite(value) && value > 0)
      targets.push({ target, measured, value: round2(value), limit, met: value <= limit });
  };
  const { holdFloor, redisCeiling, httpCeiling, engine, engineSingle, engineRefusals } = runs;
  add(
    "Redis CPU per hold ≤ 2× the minimal hold script",
    "redisCeiling Redis µs / holdFloor Redis µs",
    cpu(redisCeiling, "redis") / cpu(holdFloor, "redis"),
    2,
  );
  add(
    "serve CPU per request ≤ 2× the HTTP ceiling server's",
    "engineSingle serve µs / httpCeiling ceiling µs",
    cpu(engineSingle, "serve") / cpu(httpCeiling, "ceiling"),
    2,
  );
  add(
    "relay + PostgreSQL ≤ 40 µs per person",
    "on-sale (engine) work + postgres µs per arrival",
    cpu(engine, "work") + cpu(engine, "postgres"),
    40,
  );
  add(
    "engine total ≤ 100 µs per person",
    "on-sale (engine) serve + work + gateway + Redis + PostgreSQL µs per arrival",
    engine ? serverCpuUs(engine) : 0,
    ENGINE_TARGET_US,
  );
  add(
    "a refusal ≤ ¼ of a request that holds or queues",
    "engineRefusals total µs / engineSingle total µs",
    engineRefusals && engineSingle ? serverCpuUs(engineRefusals) / serverCpuUs(engineSingle) : 0,
    0.25,
  );
  return targets;
}

/** The cost table as text: one line per run that measured CPU, µs per request by process. */
export function costTable(runs: Partial<Record<string, RunResult>>): string[] {
  const measuredRuns = Object.entries(runs).filter(
    (entry): entry is [string, RunResult] => entry[1]?.cpuUsPerRequest !== undefined,
  );
  const columns = COST_COLUMNS.filter((name) =>
    measuredRuns.some(([, run]) => run.cpuUsPerRequest![name] !== undefined),
  );
  const cell = (value: number | undefined) => (value === undefined ? "—" : String(value)).padStart(9);
  return [
    `${"CPU µs per request".padEnd(22)}${columns.map((name) => name.padStart(9)).join("")}${"system".padStart(9)}`,
    ...measuredRuns.map(
      ([name, run]) =>
        `${name.padEnd(22)}${columns.map((c) => cell(run.cpuUsPerRequest![c])).join("")}${cell(serverCpuUs(run))}`,
    ),
    "(system: the processes under test, without the load generator and the mix)",
  ];
}

export function targetLines(targets: CostTarget[]): string[] {
  return targets.map(
    (t) => `${t.met ? "met    " : "NOT met"}  ${t.target}: ${t.value} (limit ${t.limit}; ${t.measured})`,
  );
}

/** What the run showed, in the figures the product asks about. */
export interface Verdict {
  people: number;
  /** From the first arrival until every person had an answer. */
  answeredS: number;
  /** Until nothing was held and the relay had written the whole log to PostgreSQL. */
  settledS: number;
  /** System CPU µs per person in the on-sale (every process under test). */
  systemUsPerPerson: number;
  /** systemUsPerPerson over ENGINE_TARGET_US. */
  toEngineTarget: number;
  targetsMet: number;
  targets: number;
  invariantsOk: boolean;
  /** The full path (HOLD_BATCH off, the default) held at 80% of its peak rate. */
  at80: { rps: number; p99Ms: number; met: boolean };
  /** Bookings per second TARGET_CORES cores carry at systemUsPerPerson, the engine's own headroom. */
  headroomPerS: number;
  /** The load generator's CPU µs per request in the on-sale, and its ratio to the system's. */
  loadgenUsPerRequest: number;
  loadgenToSystem: number;
  /** The load generator spent at least as much CPU per request as the engine: it, not the engine, set the pace. */
  loadgenBound: boolean;
}

/** What the verdict reads of a run's results (BenchResult in bench/run.ts has these). */
interface VerdictInput {
  people: number;
  runs: { engine: RunResult; engineSingleAt80: RunResult };
  onSale: { arrivalMs: number; settleMs: number; relayMs: number };
  costTargets: CostTarget[];
  invariants: { ok: boolean };
}

export function verdict(result: VerdictInput): Verdict {
  const { engine, engineSingleAt80 } = result.runs;
  const systemUs = serverCpuUs(engine);
  const loadgenUs = cpu(engine, "loadgen");
  const { arrivalMs, settleMs, relayMs } = result.onSale;
  return {
    people: result.people,
    answeredS: round2(arrivalMs / 1000),
    settledS: round2((arrivalMs + settleMs + relayMs) / 1000),
    systemUsPerPerson: systemUs,
    toEngineTarget: round2(systemUs / ENGINE_TARGET_US),
    targetsMet: result.costTargets.filter((t) => t.met).length,
    targets: result.costTargets.length,
    invariantsOk: result.invariants.ok,
    at80: {
      rps: engineSingleAt80.rps,
      p99Ms: engineSingleAt80.p99Ms,
      met: engineSingleAt80.p99Ms < P99_AT_80_LIMIT_MS,
    },
    headroomPerS: systemUs > 0 ? Math.round((TARGET_CORES * 1e6) / systemUs) : 0,
    loadgenUsPerRequest: loadgenUs,
    loadgenToSystem: systemUs > 0 ? round2(loadgenUs / systemUs) : 0,
    loadgenBound: loadgenUs >= systemUs,
  };
}

const num = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 1 });

/** One sentence: what the run showed. The report and the printed summary open with it. */
export function headline(v: Verdict): string {
  return `${num(v.people)} people: the engine spent ${num(Math.round(v.systemUsPerPerson))} µs of CPU per person across its processes, ${num(v.toEngineTarget)}× the ${ENGINE_TARGET_US} µs target; ${v.targetsMet} of ${v.targets} cost targets met; ${v.invariantsOk ? "no invariant broke" : "an invariant BROKE"}.`;
}

/** The end-to-end verdict, one line each: the on-sale, latency below saturation, headroom, the load generator. */
export function verdictLines(v: Verdict): string[] {
  return [
    `${num(v.people)} people through the on-sale in ${num(v.answeredS)} s (every one answered); nothing held and every paid booking in PostgreSQL after ${num(v.settledS)} s.`,
    `p99 at 80% of peak (${num(v.at80.rps)} req/s): ${num(v.at80.p99Ms)} ms, ${v.at80.met ? "under" : "NOT under"} the ${P99_AT_80_LIMIT_MS} ms limit.`,
    `Headroom: at ${num(v.systemUsPerPerson)} µs of system CPU per person, ${TARGET_CORES} cores carry about ${num(v.headroomPerS)} bookings/s (${TARGET_CORES} × 1,000,000 / ${num(v.systemUsPerPerson)}).`,
    `Load generator: ${num(v.loadgenUsPerRequest)} µs of CPU per request against the engine's ${num(v.systemUsPerPerson)} (${v.loadgenToSystem.toLocaleString("en-US")}×): ${
      v.loadgenBound
        ? "it cost at least as much as the engine, so it, not the engine, bound this run's throughput."
        : "it cost less than the engine, so it was not what bound this run's throughput."
    }`,
  ];
}
