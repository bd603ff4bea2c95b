import type PgBoss from "pg-boss";
import type { Config } from "../engine/config.js";
import type { Engine } from "../engine/engine.js";
import type { Logger } from "../engine/logger.js";
import type { Pool } from "../sql/db.js";
import { mailTransport } from "./mail.js";
import { Notifier } from "./notify.js";
import { QueueStats } from "./queueStats.js";

// The work role's notification side: SMTP (or the local sink), the notify workers and the
// queue metrics. Returns what stops them.

export async function startNotifications(deps: {
  boss: PgBoss;
  pool: Pool;
  engine: Engine;
  config: Config;
  log: Logger;
}): Promise<() => Promise<void>> {
  const { boss, pool, engine, config, log } = deps;
  const { mailer, sink } = await mailTransport(config.mail, log);
  await new Notifier(pool, engine, mailer, config, log).work(boss);
  const stats = new QueueStats(boss, log);
  stats.start();
  return async () => {
    await stats.stop();
    mailer.close();
    await sink?.stop();
  };
}
