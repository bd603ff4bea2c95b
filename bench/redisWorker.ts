import { Redis } from "ioredis";
import { parentPort, workerData } from "node:worker_threads";
import { loadConfig } from "../engine/config.js";
import { Engine } from "../engine/engine.js";
import { LatencyHistogram } from "./histogram.js";
import { TICK_MS, quantityOf, type LoadMessage } from "./protocol.js";

// One thread calling the hold script through the Engine, without HTTP: the Redis ceiling.
// pipelined: one connection, `inFlight` holds outstanding (ioredis auto-pipelining);
// single: `inFlight` connections, each waiting for its answer before the next hold.

export interface RedisJob {
  redisUrl: string;
  env: Record<string, string>;
  eventId: string;
  userPrefix: string;
  mode: "pipelined" | "single";
  inFlight: number;
  durationS: number;
}

async function main(job: RedisJob): Promise<void> {
  const config = loadConfig({ ...job.env, REDIS_URL: job.redisUrl });
  const pipelined = job.mode === "pipelined";
  const engines = Array.from({ length: pipelined ? 1 : job.inFlight }, () => new Engine(new Redis(job.redisUrl, { enableAutoPipelining: pipelined }), config));
  const histogram = new LatencyHistogram();
  const statuses: Record<string, number> = {};
  let n = 0;
  const startMs = Date.now();
  const endMs = startMs + job.durationS * 1000;
  const ticker = setInterval(() => parentPort!.postMessage({ type: "tick", responses: histogram.total } satisfies LoadMessage), TICK_MS);
  const loop = async (engine: Engine) => {
    while (Date.now() < endMs) {
      n += 1;
      const started = performance.now();
      try {
        const booking = await engine.hold({ eventId: job.eventId, userId: `${job.userPrefix}-${n}`, quantity: quantityOf(n), email: "", idempotencyKey: "" });
        statuses[booking.kind] = (statuses[booking.kind] ?? 0) + 1;
      } catch (error) {
        const code = (error as { code?: string }).code ?? "error";
        statuses[code] = (statuses[code] ?? 0) + 1;
      }
      histogram.record(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: job.inFlight }, (_, i) => loop(engines[pipelined ? 0 : i]!)));
  clearInterval(ticker);
  for (const engine of engines) engine.redis.disconnect();
  parentPort!.postMessage({ type: "done", counts: histogram.counts, statuses, errors: 0, timeouts: 0, durationMs: Date.now() - startMs } satisfies LoadMessage);
}

if (parentPort !== null && workerData !== undefined) await main(workerData as RedisJob);
