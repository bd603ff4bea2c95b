import { Redis } from "ioredis";
import { parentPort, workerData } from "node:worker_threads";
import { loadConfig } from "../engine/config.js";
import { Engine } from "../engine/engine.js";
import { threadCpuUs } from "./cpu.js";
import { defineFloor, floorHold } from "./floor.js";
import { LatencyHistogram } from "./histogram.js";
import { TICK_MS, quantityOf, type LoadMessage } from "./protocol.js";

// One thread calling Redis without HTTP: the hold script through the Engine (the Redis
// ceiling), or the minimal hold script (bench/floor.lua, the floor).
// pipelined, floor: one connection, `inFlight` holds outstanding (ioredis auto-pipelining);
// single: `inFlight` connections, each waiting for its answer before the next hold.

export interface RedisJob {
  redisUrl: string;
  env: Record<string, string>;
  eventId: string;
  userPrefix: string;
  mode: "pipelined" | "single" | "floor";
  inFlight: number;
  durationS: number;
}

/** One hold for person n on connection i; resolves to the answer's kind. */
type Hold = (i: number, n: number) => Promise<string>;

function holdsOf(job: RedisJob): { hold: Hold; connections: Redis[] } {
  const config = loadConfig({ ...job.env, REDIS_URL: job.redisUrl });
  const pipelined = job.mode !== "single";
  const connections = Array.from(
    { length: pipelined ? 1 : job.inFlight },
    () => new Redis(job.redisUrl, { enableAutoPipelining: pipelined }),
  );
  const userId = (n: number) => `${job.userPrefix}-${n}`;
  if (job.mode === "floor") {
    const floor = defineFloor(connections[0]!);
    return {
      connections,
      hold: (_i, n) => floorHold(floor, job.eventId, userId(n), quantityOf(n), config.holds.holdMs),
    };
  }
  const engines = connections.map((redis) => new Engine(redis, config));
  const hold: Hold = async (i, n) => {
    const engine = engines[pipelined ? 0 : i]!;
    return (
      await engine.hold({
        eventId: job.eventId,
        userId: userId(n),
        quantity: quantityOf(n),
        email: "",
        idempotencyKey: "",
      })
    ).kind;
  };
  return { connections, hold };
}

async function main(job: RedisJob): Promise<void> {
  const startCpuUs = threadCpuUs();
  const { hold, connections } = holdsOf(job);
  const histogram = new LatencyHistogram();
  const statuses: Record<string, number> = {};
  let n = 0;
  const startMs = Date.now();
  const endMs = startMs + job.durationS * 1000;
  const ticker = setInterval(
    () => parentPort!.postMessage({ type: "tick", responses: histogram.total } satisfies LoadMessage),
    TICK_MS,
  );
  const loop = async (i: number) => {
    while (Date.now() < endMs) {
      n += 1;
      const started = performance.now();
      let kind: string;
      try {
        kind = await hold(i, n);
      } catch (error) {
        kind = (error as { code?: string }).code ?? "error";
      }
      statuses[kind] = (statuses[kind] ?? 0) + 1;
      histogram.record(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: job.inFlight }, (_, i) => loop(i)));
  clearInterval(ticker);
  for (const redis of connections) redis.disconnect();
  const done = {
    type: "done",
    counts: histogram.counts,
    statuses,
    errors: 0,
    timeouts: 0,
    durationMs: Date.now() - startMs,
    cpuUs: threadCpuUs() - startCpuUs,
  } satisfies LoadMessage;
  parentPort!.postMessage(done);
}

if (parentPort !== null && workerData !== undefined) await main(workerData as RedisJob);
