import type PgBoss from "pg-boss";
import type { PoolClient } from "pg";
import type { SearchConfig } from "../engine/config.js";
import type { Logger } from "../engine/logger.js";
import type { Pool } from "../sql/db.js";
import { ensureCollection, syncEvent, typesenseClient } from "../search/typesense.js";
import { QUEUES, sendIn, workEach } from "./queues.js";

// The search-sync job: after an event is created, changed or deleted in PostgreSQL, make its
// Typesense document match. Queued in the transaction that writes the event, only when
// TYPESENSE_URL is set; the job reads the row afresh, so a retried or late job is harmless.

interface SearchSyncJob {
  eventId: string;
}

/** Queues a sync of the event inside the caller's transaction; nothing to do without Typesense. */
export async function queueSearchSync(
  boss: PgBoss,
  client: PoolClient,
  config: SearchConfig,
  eventId: string,
): Promise<void> {
  if (config.typesenseUrl) await sendIn(boss, client, QUEUES.searchSync.name, { eventId } satisfies SearchSyncJob);
}

export class SearchSync {
  private readonly client;

  constructor(
    private readonly pool: Pool,
    private readonly config: SearchConfig,
    private readonly log: Logger,
  ) {
    this.client = typesenseClient(config);
  }

  async work(boss: PgBoss): Promise<void> {
    await ensureCollection(this.client, this.config.typesenseCollection);
    await workEach<SearchSyncJob>(boss, QUEUES.searchSync, async ({ eventId }) => {
      const outcome = await syncEvent(this.pool, this.client, this.config.typesenseCollection, eventId);
      this.log.debug({ eventId, outcome }, "search document synced");
    });
    await workEach<SearchSyncJob>(
      boss,
      QUEUES.searchSync,
      async ({ eventId }) =>
        this.log.error({ eventId }, "search sync failed after every retry; run `onsale search reindex`"),
      QUEUES.searchSync.deadLetter,
    );
  }
}
