import type PgBoss from "pg-boss";
import type { Config } from "../engine/config.js";
import type { Engine } from "../engine/engine.js";
import type { Logger } from "../engine/logger.js";
import type { PaymentFact, PaymentProvider } from "../engine/payments/provider.js";
import type { Pool } from "../sql/db.js";

// What the engine's routes are given: built once per HTTP process by bin/app.ts.

/** Makes a verified webhook's payment fact durable; the work role's payment ingest. */
interface WebhookIngest {
  handle(fact: PaymentFact): Promise<string>;
}

export interface HttpDeps {
  config: Config;
  engine: Engine;
  pool: Pool;
  readPool: Pool;
  provider: PaymentProvider;
  ingest: WebhookIngest;
  /** Serving processes only queue jobs with it. */
  boss: PgBoss;
  log: Logger;
}
