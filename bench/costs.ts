import type { RunResult } from "./load.js";

// What one request costs each process (CPU µs, from the run's cpuUsPerRequest), and the cost
// targets as ratios of runs made side by side: on a shared machine throughput swings, the CPU
// a request takes does not swing nearly as much.

/** Processes that are the system under test; the load generator and the mix are not. */
const SERVER_PROCESSES = ["serve", "work", "gateway", "redis", "postgres", "ceiling", "pgdesign", "rival"];
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
    100,
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
