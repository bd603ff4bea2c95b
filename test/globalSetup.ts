import type { TestProject } from "vitest/node";
import { createLogger } from "../engine/logger.js";
import { ensurePostgres, ensureRedis, type Service } from "../bin/services.js";
import { createPool } from "../sql/db.js";
import { migrate } from "../sql/migrate.js";

// Tests run against real Redis and PostgreSQL: the machine's, or local ones started here the
// same way `npm start` starts them. PostgreSQL gets its own database, onsale_test.

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
    databaseUrl: string;
  }
}

let services: Service[] = [];

export async function setup(project: TestProject): Promise<void> {
  const log = createLogger("warn", "test-setup");
  const redis = await ensureRedis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", Boolean(process.env.REDIS_URL), log);
  const databaseUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/onsale_test";
  const postgres = await ensurePostgres(databaseUrl, Boolean(process.env.TEST_DATABASE_URL), log);
  services = [redis, postgres];
  const pool = createPool(postgres.url, 1);
  await migrate(pool);
  await pool.end();
  project.provide("redisUrl", redis.url);
  project.provide("databaseUrl", postgres.url);
}

export async function teardown(): Promise<void> {
  for (const service of services) await service.stop();
}
