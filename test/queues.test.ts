import { randomBytes } from "node:crypto";
import { expect, inject, it } from "vitest";
import { loadConfig } from "../engine/config.js";
import { createLogger } from "../engine/logger.js";
import { startBoss } from "../jobs/queues.js";
import { createPool } from "../sql/db.js";

// Processes that start together (serve × N + work) set pg-boss up on a fresh schema at once;
// without the setup lock, pg-boss's create_queue deadlocked in 3 of 4 of them.

it("starts pg-boss in four processes' worth of instances at once on a fresh schema", async () => {
  const schema = `pgboss_race_${randomBytes(4).toString("hex")}`;
  const config = loadConfig({ DATABASE_URL: inject("databaseUrl"), PGBOSS_SCHEMA: schema, LOG_LEVEL: "silent" });
  const log = createLogger("silent", "queues-test");
  const started = await Promise.allSettled(
    Array.from({ length: 4 }, () => startBoss(config.postgres, log, { maintain: false })),
  );
  for (const result of started)
    if (result.status === "fulfilled") await result.value.stop({ graceful: false, wait: true });
  const pool = createPool(config.postgres.url, 1);
  await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await pool.end();
  expect(started.map((result) => (result.status === "fulfilled" ? "started" : String(result.reason)))).toEqual(
    Array(4).fill("started"),
  );
});
