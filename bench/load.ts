import { Worker } from "node:worker_threads";
import { LatencyHistogram } from "./histogram.js";
import type { RedisCost } from "./redisCost.js";
import type { LoadJob } from "./loadWorker.js";
import { TICK_MS, type LoadMessage } from "./protocol.js";

// Runs autocannon in several threads against one URL and adds their results up.

export interface RunResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  errors: number;
  requests: number;
  durationMs: number;
  statuses: Record<string, number>;
  /** Answers per second, sampled every TICK_MS from the start of the run. */
  timeline: number[];
  /** Non-empty latency buckets as [upperMs, count]. */
  histogram: [number, number][];
  /** CPU the load-generator threads spent, in µs. */
  loadgenCpuUs: number;
  /** CPU µs per request by process (loadgen, serve, redis, postgres, ...), for runs that measure it. */
  cpuUsPerRequest?: Record<string, number>;
  /** What the run cost inside Redis, for runs that reach it. */
  redis?: RedisCost;
}

export interface LoadOptions {
  url: string;
  eventId: string;
  /** Distinct per run, so every request in a whole bench run is a new person. */
  userPrefix: string;
  threads: number;
  connections: number;
  amount: number;
  durationS: number;
  rate?: number;
  /** Statuses that are answers, not errors (201, 202, 409 for bookings). */
  okStatuses: string[];
  onProgress?: (responses: number) => void;
}

const HTTP_WORKER = new URL("./loadWorker.ts", import.meta.url);

/** POST /bookings with autocannon from several threads. */
export function runLoad(options: LoadOptions): Promise<RunResult> {
  const threads = Math.max(1, options.amount > 0 ? Math.min(options.threads, options.amount) : options.threads);
  const jobs = Array.from({ length: threads }, (_, i): LoadJob => {
    const amount = options.amount > 0 ? share(options.amount, threads, i) : 0;
    const connections = share(options.connections, threads, i);
    return {
      url: options.url,
      eventId: options.eventId,
      userPrefix: `${options.userPrefix}t${i}`,
      connections: Math.max(1, amount > 0 ? Math.min(connections, amount) : connections),
      amount,
      durationS: options.durationS,
      rate: options.rate ? share(options.rate, threads, i) : 0,
    };
  });
  return runThreads(HTTP_WORKER, jobs, options.okStatuses, options.onProgress);
}

/** Worker threads do not inherit tsx's loader: each registers it, then imports its .ts file. */
function tsWorkerBoot(workerUrl: URL): string {
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  return `import(${tsx}).then((api) => { api.register(); return import(${JSON.stringify(workerUrl.href)}); });`;
}

/** The i-th of n near-equal parts of total. */
export function share(total: number, n: number, i: number): number {
  return Math.floor(total / n) + (i < total % n ? 1 : 0);
}

/** Runs one thread per job of a worker that speaks LoadMessage, and adds their results up. */
export async function runThreads(
  workerUrl: URL,
  jobs: unknown[],
  okStatuses: string[],
  onProgress?: (responses: number) => void,
): Promise<RunResult> {
  const threads = jobs.length;
  const responses = new Array<number>(threads).fill(0);
  const histogram = new LatencyHistogram();
  const statuses: Record<string, number> = {};
  const timeline: number[] = [];
  let errors = 0;
  let durationMs = 0;
  let loadgenCpuUs = 0;
  let last = 0;
  const startedMs = Date.now();
  const sampler = setInterval(() => {
    const total = responses.reduce((a, b) => a + b, 0);
    timeline.push(((total - last) * 1000) / TICK_MS);
    last = total;
    onProgress?.(total);
  }, TICK_MS);

  await Promise.all(
    jobs.map((job, i) => {
      return new Promise<void>((resolve, reject) => {
        const worker = new Worker(tsWorkerBoot(workerUrl), { eval: true, workerData: job });
        worker.on("message", (message: LoadMessage) => {
          if (message.type === "tick") {
            responses[i] = message.responses;
            return;
          }
          const own = new LatencyHistogram(message.counts);
          histogram.add(own);
          for (const [status, count] of Object.entries(message.statuses))
            statuses[status] = (statuses[status] ?? 0) + count;
          errors += message.errors + message.timeouts;
          durationMs = Math.max(durationMs, message.durationMs);
          loadgenCpuUs += message.cpuUs;
          responses[i] = own.total;
        });
        worker.on("error", reject);
        worker.on("exit", (code) =>
          code === 0 ? resolve() : reject(new Error(`load worker ${i} exited with ${code}`)),
        );
      });
    }),
  );
  clearInterval(sampler);
  durationMs = durationMs || Date.now() - startedMs;
  const requests = histogram.total;
  for (const [status, count] of Object.entries(statuses)) if (!okStatuses.includes(status)) errors += count;
  return {
    rps: Math.round((requests * 1000) / durationMs),
    p50Ms: histogram.quantileMs(0.5),
    p99Ms: histogram.quantileMs(0.99),
    p999Ms: histogram.quantileMs(0.999),
    errors,
    requests,
    durationMs,
    statuses,
    timeline,
    histogram: histogram.nonEmpty(),
    loadgenCpuUs,
  };
}
