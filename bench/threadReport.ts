import type autocannon from "autocannon";
import type { MessagePort } from "node:worker_threads";
import { threadCpuUs } from "./cpu.js";
import { LatencyHistogram } from "./histogram.js";
import { TICK_MS, type LoadMessage } from "./protocol.js";

/** The options every load thread gives autocannon. Never pipelined: this uWS build closes a
 * connection when a request arrives while an async answer is pending. */
export function cannonBase(url: string, connections: number) {
  return { url, connections, pipelining: 1, timeout: 30 };
}

/**
 * What every load thread does with its autocannon run: counts answers by status and
 * latency, tells the parent how far it got every TICK_MS, and sends the totals at the end.
 */
export async function reportRun(instance: ReturnType<typeof autocannon>, parent: MessagePort): Promise<void> {
  const startCpuUs = threadCpuUs();
  const histogram = new LatencyHistogram();
  const statuses: Record<string, number> = {};
  let responses = 0;
  instance.on("response", (_client, statusCode, _bytes, responseTimeMs) => {
    responses += 1;
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    histogram.record(responseTimeMs);
  });
  const ticker = setInterval(() => parent.postMessage({ type: "tick", responses } satisfies LoadMessage), TICK_MS);
  const result = await instance;
  clearInterval(ticker);
  parent.postMessage({
    type: "done",
    counts: histogram.counts,
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    durationMs: result.duration * 1000,
    cpuUs: threadCpuUs() - startCpuUs,
  } satisfies LoadMessage);
}
