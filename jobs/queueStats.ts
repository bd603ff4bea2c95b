import pg from "pg";
import type { Logger } from "../engine/logger.js";
import { metrics } from "../engine/metrics.js";
import type { Pool } from "../sql/db.js";
import { Periodic } from "./periodic.js";
import { QUEUES, type QueueSpec } from "./queues.js";

// Queue gauges for Prometheus (depth, scheduled, lag, failures), read from pg-boss's job
// table by the work role every few seconds rather than on each scrape.

const QUEUE_STATS_INTERVAL_MS = 5000;

interface QueueRow {
  name: string;
  due: number;
  scheduled: number;
  lag_seconds: number;
  failed: number;
}

export class QueueStats {
  private readonly loop: Periodic;
  private readonly query: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
    log: Logger,
  ) {
    this.query = `
      SELECT name,
             count(*) FILTER (WHERE state IN ('created', 'retry') AND start_after <= now())::int AS due,
             count(*) FILTER (WHERE state IN ('created', 'retry') AND start_after > now())::int AS scheduled,
             COALESCE(extract(epoch FROM now() - min(start_after) FILTER (WHERE state IN ('created', 'retry') AND start_after <= now())), 0)::float8 AS lag_seconds,
             count(*) FILTER (WHERE state = 'failed')::int AS failed
      FROM ${pg.escapeIdentifier(schema)}.job
      WHERE name = ANY($1::text[])
      GROUP BY name`;
    this.loop = new Periodic("queue-stats", QUEUE_STATS_INTERVAL_MS, () => this.refresh().then(() => false), log);
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  async refresh(): Promise<void> {
    const names = (Object.values(QUEUES) as QueueSpec[]).flatMap((spec) => [spec.name, spec.deadLetter]);
    const { rows } = await this.pool.query<QueueRow>(this.query, [names]);
    const byName = new Map(rows.map((row) => [row.name, row]));
    for (const queue of names) {
      const row = byName.get(queue);
      metrics.queueDepth.set({ queue }, row?.due ?? 0);
      metrics.queueScheduled.set({ queue }, row?.scheduled ?? 0);
      metrics.queueLagSeconds.set({ queue }, row?.lag_seconds ?? 0);
      metrics.queueFailed.set({ queue }, row?.failed ?? 0);
    }
  }
}
