import type { RedisClient } from "../engine/redis.js";
import { redisCpuUs } from "./cpu.js";

// What a run cost inside Redis, from INFO deltas: script calls (EVALSHA), their time, and the
// server's CPU. The server is shared with anything else using it, so read these as upper bounds.

export interface RedisCost {
  scriptCalls: number;
  /** Time inside scripts per request of the run, in µs. */
  scriptUsPerRequest: number;
  /** Script calls per request: 1 for single holds, 1/batch size with group commit. */
  callsPerRequest: number;
  /** Redis CPU (user + sys) per request, in µs. */
  cpuUsPerRequest: number;
}

interface Snapshot {
  calls: number;
  usec: number;
  cpuUs: number;
}

async function snapshot(redis: RedisClient): Promise<Snapshot> {
  const [commands, cpuUs] = await Promise.all([redis.info("commandstats"), redisCpuUs(redis)]);
  const evalsha = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(commands);
  return { calls: Number(evalsha?.[1] ?? 0), usec: Number(evalsha?.[2] ?? 0), cpuUs };
}

/** Runs `run` and adds what it cost Redis per request (the run's `requests`). */
export async function withRedisCost<T extends { requests: number }>(
  redis: RedisClient,
  run: () => Promise<T>,
): Promise<T & { redis: RedisCost }> {
  const before = await snapshot(redis);
  const result = await run();
  const after = await snapshot(redis);
  const per = (value: number) => Math.round((value / Math.max(1, result.requests)) * 100) / 100;
  return {
    ...result,
    redis: {
      scriptCalls: after.calls - before.calls,
      scriptUsPerRequest: per(after.usec - before.usec),
      callsPerRequest: per(after.calls - before.calls),
      cpuUsPerRequest: per(after.cpuUs - before.cpuUs),
    },
  };
}
