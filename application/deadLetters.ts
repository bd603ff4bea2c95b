import type PgBoss from "pg-boss";
import type { Config } from "../engine/config.js";
import type { Logger } from "../engine/logger.js";
import type { RedisClient } from "../engine/redis.js";
import { queueNotifications } from "../jobs/notify.js";
import { REPLAY_MAX, Relay, type ReplayResult } from "../jobs/relay.js";
import type { Pool } from "../sql/db.js";
import { openDeadLetters, type DeadLetter } from "../sql/relay.js";

// Log entries the relay set aside (relay_dead_letters), for `onsale relay` and the admin
// routes: list them, and replay them once whatever PostgreSQL refused is fixed.

export interface RelayDeps {
  pool: Pool;
  redis: RedisClient;
  config: Config;
  boss: PgBoss;
  log: Logger;
}

/** The relay as the work role runs it: each batch queues the mails its state changes call for. */
export function notifyingRelay({ pool, redis, config, boss, log }: RelayDeps): Relay {
  return new Relay(pool, redis, config.relay, log, (client, eventId, changes) =>
    queueNotifications(boss, client, config.mail, eventId, changes),
  );
}

export class DeadLetters {
  private readonly relay: Relay;

  constructor(private readonly deps: RelayDeps) {
    this.relay = notifyingRelay(deps);
  }

  /** Not yet replayed, oldest first (at most REPLAY_MAX). */
  open(): Promise<DeadLetter[]> {
    return openDeadLetters(this.deps.pool, null, REPLAY_MAX);
  }

  /** Every open dead letter, or the one of this id. */
  replay(id: number | null): Promise<ReplayResult> {
    return this.relay.replay(id === null ? null : [id]);
  }
}
