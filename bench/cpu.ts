import { readFileSync } from "node:fs";
import type { RedisClient } from "../engine/redis.js";
import { createPool, type Pool } from "../sql/db.js";

// CPU each process spent during a run, in µs: processes from /proc/<pid>/stat (utime + stime),
// Redis from INFO cpu, PostgreSQL as the sum of the client backends connected to the named
// databases (sampled while the run lasts: pools open and close connections). Divided by the
// run's requests, this is what a request costs each process, whatever else the machine runs.

/** USER_HZ: /proc reports CPU in clock ticks of 10 ms on Linux. */
const TICK_US = 10_000;
const SAMPLE_MS = 250;
/** Backends followed at most: a limit on what one sample reads. */
const BACKENDS_MAX = 512;

/** CPU of a process (all its threads) so far, in µs; null once it is gone. */
export function processCpuUs(pid: number | "thread-self"): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "(comm)": state is field 3, utime 14 and stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return null;
  }
}

/** CPU of the calling thread so far, in µs (a load-generator thread reads its own). */
export function threadCpuUs(): number {
  return processCpuUs("thread-self") ?? 0;
}

/** Redis server CPU (user + sys) so far, in µs. */
export async function redisCpuUs(redis: RedisClient): Promise<number> {
  const cpu = await redis.info("cpu");
  const user = Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1] ?? 0);
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1] ?? 0);
  return Math.round((user + sys) * 1e6);
}

export interface CpuSources {
  /** Processes by the name they are reported under; several pids of one name are added up. */
  pids?: Record<string, number[]>;
  redis?: RedisClient;
  /** PostgreSQL databases whose client backends are counted, and a URL of the server to list them. */
  postgres?: { serverUrl: string; databases: string[] };
}

/** Measures the CPU of the sources from start() to stop(). */
export class CpuMeter {
  private readonly start = new Map<string, number>();
  /** Backend pid → [CPU when first seen, CPU when last seen]. */
  private readonly backends = new Map<number, [number, number]>();
  private redisStartUs = 0;
  private sampler: NodeJS.Timeout | null = null;
  private sampling: Promise<void> = Promise.resolve();
  private pool: Pool | null = null;

  constructor(private readonly sources: CpuSources) {}

  async begin(): Promise<this> {
    for (const [name, pids] of Object.entries(this.sources.pids ?? {})) this.start.set(name, this.sum(pids));
    if (this.sources.redis) this.redisStartUs = await redisCpuUs(this.sources.redis);
    if (this.sources.postgres) {
      this.pool = createPool(this.sources.postgres.serverUrl, 1);
      await this.sampleBackends(true);
      this.sampler = setInterval(
        () => (this.sampling = this.sampling.then(() => this.sampleBackends(false))),
        SAMPLE_MS,
      );
    }
    return this;
  }

  /** µs of CPU per source since begin(). */
  async end(): Promise<Record<string, number>> {
    const spent: Record<string, number> = {};
    for (const [name, pids] of Object.entries(this.sources.pids ?? {}))
      spent[name] = this.sum(pids) - this.start.get(name)!;
    if (this.sources.redis) spent.redis = (await redisCpuUs(this.sources.redis)) - this.redisStartUs;
    if (this.pool) {
      if (this.sampler) clearInterval(this.sampler);
      await this.sampling;
      await this.sampleBackends(false);
      await this.pool.end();
      spent.postgres = [...this.backends.values()].reduce((total, [first, last]) => total + last - first, 0);
    }
    return spent;
  }

  private sum(pids: number[]): number {
    return pids.reduce((total, pid) => total + (processCpuUs(pid) ?? 0), 0);
  }

  /** A backend first seen after the start began during the run: all its CPU counts. */
  private async sampleBackends(atStart: boolean): Promise<void> {
    const { rows } = await this.pool!.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1) AND backend_type = 'client backend' LIMIT $2",
      [this.sources.postgres!.databases, BACKENDS_MAX],
    );
    for (const { pid } of rows) {
      const cpuUs = processCpuUs(pid);
      if (cpuUs === null) continue;
      const seen = this.backends.get(pid);
      if (seen) seen[1] = cpuUs;
      else this.backends.set(pid, [atStart ? cpuUs : 0, cpuUs]);
    }
  }
}

/** µs per request, one decimal. */
export function perRequest(spentUs: Record<string, number>, requests: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(spentUs).map(([name, us]) => [name, Math.round((us / Math.max(1, requests)) * 10) / 10]),
  );
}

/** Runs a load and adds what each request cost each source and the load generator. */
export async function metered<Run extends { loadgenCpuUs: number; requests: number }>(
  sources: CpuSources,
  run: () => Promise<Run>,
): Promise<Run & { cpuUsPerRequest: Record<string, number> }> {
  const meter = await new CpuMeter(sources).begin();
  const result = await run();
  const spentUs = await meter.end();
  return { ...result, cpuUsPerRequest: perRequest({ loadgen: result.loadgenCpuUs, ...spentUs }, result.requests) };
}

/** The same PostgreSQL server, its maintenance database: where the meter lists backends from. */
export function serverUrlOf(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.pathname = "/postgres";
  return url.toString();
}

export const databaseNameOf = (databaseUrl: string) => new URL(databaseUrl).pathname.slice(1);
