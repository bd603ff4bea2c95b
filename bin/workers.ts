import cluster from "node:cluster";
import { WEB_WORKERS_MAX } from "../engine/config.js";
import type { Logger } from "../engine/logger.js";

// Several HTTP processes on one port: uWebSockets.js listens with SO_REUSEPORT on Linux, so
// the kernel spreads connections over every process listening. This primary only keeps
// `count` of them alive and passes SIGTERM on, so each drains its requests before exiting.

/** Pause before replacing a process that died, so a crash loop does not spin. */
const RESPAWN_DELAY_MS = 250;

export function isWorker(): boolean {
  return !cluster.isPrimary;
}

/** Tells the primary this worker is serving. */
export function reportReady(): void {
  process.send?.(READY);
}

const READY = "onsale:ready";

/** Forks one worker and resolves once it serves (or has died). */
function forkReady(): Promise<void> {
  return new Promise((resolve) => {
    const worker = cluster.fork();
    worker.on("message", (message) => message === READY && resolve());
    worker.on("exit", () => resolve());
  });
}

/**
 * Forks `count` copies of this command, one after another (their start-up migrates and
 * creates queues, which deadlocks when many run it at once), and supervises them until
 * SIGTERM or SIGINT.
 */
export async function superviseWorkers(count: number, log: Logger): Promise<void> {
  if (!Number.isSafeInteger(count) || count < 1 || count > WEB_WORKERS_MAX)
    throw new Error(`--workers must be 1..${WEB_WORKERS_MAX}, got ${count}`);
  let stopping = false;
  for (let i = 0; i < count; i++) await forkReady();
  log.info({ workers: count }, "HTTP processes serving");
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    log.warn({ pid: worker.process.pid, code, signal }, "HTTP process died; starting another");
    setTimeout(() => void forkReady(), RESPAWN_DELAY_MS);
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, workers: Object.keys(cluster.workers ?? {}).length }, "stopping HTTP processes");
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
