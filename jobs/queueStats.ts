import type PgBoss from "pg-boss";
import type { Logger } from "../engine/logger.js";
import { metrics } from "../engine/metrics.js";
import { Periodic } from "./periodic.js";
import { QUEUES, type QueueSpec } from "./queues.js";

// Queue gauges for Prometheus (queued and active jobs of every queue and its dead letters),
// read through pg-boss's own API by the work role every scrape interval or so rather than on each
// scrape (each refresh is two counting queries per queue).

const QUEUE_STATS_INTERVAL_MS = 15_000;

export class QueueStats {
  private readonly loop: Periodic;

  constructor(
    private readonly boss: PgBoss,
    log: Logger,
  ) {
    this.loop = new Periodic(
      "queue-stats",
      QUEUE_STATS_INTERVAL_MS,
      () => this.refresh().then(() => "done" as const),
      log,
    );
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  async refresh(): Promise<void> {
    const names = (Object.values(QUEUES) as QueueSpec[]).flatMap((spec) => [spec.name, spec.deadLetter]);
    for (const queue of names) {
      // pg-boss counts jobs in states before the one named: created and retry come before
      // active, and active before completed.
      const [queued, startedOrQueued] = await Promise.all([
        this.boss.getQueueSize(queue, { before: "active" }),
        this.boss.getQueueSize(queue, { before: "completed" }),
      ]);
      metrics.queueDepth.set({ queue }, queued);
      metrics.queueActive.set({ queue }, startedOrQueued - queued);
    }
  }
}
