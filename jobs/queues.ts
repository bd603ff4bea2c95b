import PgBoss from "pg-boss";
import pg, { type PoolClient } from "pg";
import type { PostgresConfig } from "../engine/config.js";
import type { Logger } from "../engine/logger.js";

// Every pg-boss queue, its retry policy and its dead-letter queue, in one place. Jobs are
// queued inside the transaction that records why they exist (`inTransaction`), so a job
// exists exactly when its reason is committed.

export interface QueueSpec {
  name: string;
  /** Attempts after the first. */
  retryLimit: number;
  retryDelaySeconds: number;
  /** A job still running after this long is failed and retried. */
  expireInSeconds: number;
  /** Where a job goes when its retries are spent. */
  deadLetter: string;
  /** Jobs one fetch takes and runs at once. */
  batchSize: number;
  /**
   * The wait after a fetch that found less than a full batch: each poll is a query against the
   * job table, so it is the longest a job queued into an idle queue waits. A full batch is
   * followed by the next fetch at once.
   */
  pollingIntervalSeconds: number;
}

export const QUEUES = {
  refund: {
    name: "payments-refund",
    retryLimit: 10,
    retryDelaySeconds: 2,
    expireInSeconds: 60,
    deadLetter: "payments-refund-dead",
    // A sale that ends with many late payments owes many refunds at once.
    batchSize: 20,
    pollingIntervalSeconds: 2,
  },
  // Search: keeps Typesense's copy of an event in step with PostgreSQL.
  searchSync: {
    name: "search-sync",
    retryLimit: 10,
    retryDelaySeconds: 2,
    expireInSeconds: 60,
    deadLetter: "search-sync-dead",
    batchSize: 20,
    pollingIntervalSeconds: 2,
  },
  // Booking emails: an SMTP outage is ridden out with backed-off retries.
  notify: {
    name: "notify",
    retryLimit: 8,
    retryDelaySeconds: 5,
    expireInSeconds: 60,
    deadLetter: "notify-dead",
    // An on-sale's thousands of confirmations. Polled more often than the others: a "your turn"
    // mail is only worth sending while its hold lasts.
    batchSize: 50,
    pollingIntervalSeconds: 0.5,
  },
} as const satisfies Record<string, QueueSpec>;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES]["name"];

/** How often a dead-letter queue is polled: nothing waits on it, and each poll is a query. */
const DEAD_LETTER_POLLING_SECONDS = 10;

/** Any constant works; every process that starts pg-boss on one database takes it. */
const BOSS_SETUP_LOCK = 7_301_002;

/** A serving process only queues jobs: a small pool is enough. */
const SENDER_POOL_MAX = 2;

/**
 * Starts pg-boss and creates the queues. `work` processes maintain the queues (supervise,
 * schedule); serving processes only send.
 */
export async function startBoss(
  config: PostgresConfig,
  log: Logger,
  { maintain }: { maintain: boolean },
): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: config.url,
    schema: config.bossSchema,
    supervise: maintain,
    schedule: maintain,
    ...(maintain ? {} : { max: SENDER_POOL_MAX }),
  });
  boss.on("error", (error) => log.error({ err: error }, "pg-boss error"));
  // Processes starting together set pg-boss up one at a time: its create_queue attaches a
  // partition per queue, and two processes doing so at once deadlock (measured: 3 of 4
  // processes starting on a fresh schema failed with "deadlock detected"). The lock is held by
  // an open transaction on a connection of its own, so it also works behind pgbouncer.
  const lock = new pg.Client({ connectionString: config.url });
  await lock.connect();
  try {
    await lock.query("BEGIN");
    await lock.query("SELECT pg_advisory_xact_lock($1)", [BOSS_SETUP_LOCK]);
    await boss.start();
    await createQueues(boss);
    await lock.query("COMMIT");
  } finally {
    await lock.end();
  }
  return boss;
}

async function createQueues(boss: PgBoss): Promise<void> {
  for (const spec of Object.values(QUEUES) as QueueSpec[]) {
    await boss.createQueue(spec.deadLetter);
    await boss.createQueue(spec.name, {
      name: spec.name,
      retryLimit: spec.retryLimit,
      retryDelay: spec.retryDelaySeconds,
      retryBackoff: true,
      expireInSeconds: spec.expireInSeconds,
      deadLetter: spec.deadLetter,
    });
  }
}

/** pg-boss's `db` option over a transaction's client. */
export function bossDb(client: PoolClient): PgBoss.Db {
  return { executeSql: (text: string, values?: unknown[]) => client.query(text, values) as never };
}

/**
 * Runs a queue's jobs a batch per fetch, all at once, each failing alone: one job that
 * throws is retried by itself while the rest complete (pg-boss completes only the jobs of a
 * batch still active). After a full batch the worker fetches again at once (pg-boss would wait
 * its polling interval), so a backlog drains at the speed of its jobs, not one batch per poll.
 * `queue` is the spec's own queue, or its dead-letter queue (same batch, polled less often).
 */
export async function workEach<T extends object>(
  boss: PgBoss,
  spec: QueueSpec,
  handle: (data: T) => Promise<void>,
  queue = spec.name,
): Promise<void> {
  const pollingIntervalSeconds = queue === spec.deadLetter ? DEAD_LETTER_POLLING_SECONDS : spec.pollingIntervalSeconds;
  const options = { batchSize: spec.batchSize, pollingIntervalSeconds };
  let workerId: string | null = null;
  workerId = await boss.work<T>(queue, options, async (jobs) => {
    if (jobs.length >= spec.batchSize && workerId !== null) boss.notifyWorker(workerId);
    await Promise.all(
      jobs.map(async (job) => {
        try {
          await handle(job.data);
        } catch (error) {
          await boss.fail(queue, job.id, { message: (error as Error).message });
        }
      }),
    );
  });
}

/** Queues one job within the caller's transaction. Jobs are idempotent, so a job queued twice does no harm. */
export async function sendIn(boss: PgBoss, client: PoolClient, queue: QueueName, data: object): Promise<void> {
  const id = await boss.send(queue, data, { db: bossDb(client) });
  if (id === null) throw new Error(`pg-boss did not queue a ${queue} job: does the queue exist?`);
}
