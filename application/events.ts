import type PgBoss from "pg-boss";
import type { Config } from "../engine/config.js";
import type { Engine, EventRecord, LiveEvent } from "../engine/engine.js";
import { EngineError } from "../engine/errors.js";
import { uuidv7 } from "../engine/ids.js";
import { queueMovedReminders } from "../jobs/notify.js";
import { queueSearchSync } from "../jobs/searchSync.js";
import { inTransaction, type Pool } from "../sql/db.js";
import { insertEvent, paidTickets, selectEvent, updateEvent, type EventChanges, type NewEvent } from "../sql/events.js";

// What an event's creation, change and reading span: PostgreSQL (the record), Redis (its
// live inventory and cached display fields) and the queues (search sync, moved reminders).

export interface EventDeps {
  config: Config;
  engine: Engine;
  pool: Pool;
  readPool: Pool;
  boss: PgBoss;
}

export interface EventState {
  event: EventRecord;
  live: LiveEvent | null;
}

export class Events {
  constructor(private readonly deps: EventDeps) {}

  /** Records the event, queues its search sync in the same transaction, and puts it on sale in Redis. */
  async create(fields: Omit<NewEvent, "id">): Promise<EventState> {
    const { config, engine, pool, boss } = this.deps;
    const id = uuidv7();
    const event = await insertEvent(pool, { id, ...fields }, (client) =>
      queueSearchSync(boss, client, config.search, id),
    );
    return { event, live: await engine.loadEvent(event, 0) };
  }

  /** PostgreSQL and Redis change together: a capacity Redis refuses rolls the update back. */
  async update(eventId: string, changes: EventChanges): Promise<EventState> {
    const { config, engine, pool, boss } = this.deps;
    const state = await inTransaction(pool, async (client) => {
      const before = await selectEvent(client, eventId);
      const event = await updateEvent(client, eventId, changes);
      if (before === null || event === null) throw new EngineError("EVENT_NOT_FOUND", "");
      await queueSearchSync(boss, client, config.search, eventId);
      await queueMovedReminders(
        boss,
        client,
        config.mail,
        eventId,
        before.startsAt.getTime(),
        event.startsAt.getTime(),
      );
      const live = await engine.loadEvent(event, await paidTickets(client, eventId), { display: false });
      return { event, live };
    });
    // Write-around: the next read caches the new display fields from PostgreSQL.
    await engine.flushDisplay(eventId);
    return state;
  }

  /** The event from PostgreSQL, caching its display fields in Redis when it is live there. */
  async read(eventId: string, live: LiveEvent | null): Promise<EventState> {
    const event = await selectEvent(this.deps.readPool, eventId);
    if (event === null) throw new EngineError("EVENT_NOT_FOUND", "");
    if (live) await this.deps.engine.cacheDisplay(event);
    return { event, live };
  }

  /** An event that is both recorded and live, as its booking page shows it; null otherwise. */
  async onSale(eventId: string): Promise<{ event: EventRecord; live: LiveEvent } | null> {
    const [event, live] = await Promise.all([
      selectEvent(this.deps.readPool, eventId),
      this.deps.engine.liveEvent(eventId),
    ]);
    return event === null || live === null ? null : { event, live };
  }
}
