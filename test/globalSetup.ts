import type { TestProject } from "vitest/node";
import { loadConfig } from "../engine/config.js";
import { createLogger } from "../engine/logger.js";
import { connectRedis } from "../engine/redis.js";
import { ensurePostgres, ensureRedis, type Service } from "../bin/services.js";
import { createPool, type Pool } from "../sql/db.js";
import { escapeIdentifier } from "pg";
import { TEST_BOSS_SCHEMA_PREFIX } from "./helpers.js";
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
  const redis = await ensureRedis(
    process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    Boolean(process.env.REDIS_URL),
    log,
  );
  const databaseUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/onsale_test";
  const postgres = await ensurePostgres(databaseUrl, Boolean(process.env.TEST_DATABASE_URL), log);
  services = [redis, postgres];
  if (process.env.REDIS_CLUSTER_NODES) await expectClusterReady();
  const pool = createPool(postgres.url, 1);
  await migrate(pool);
  await dropTestQueues(pool);
  await pool.end();
  project.provide("redisUrl", redis.url);
  project.provide("databaseUrl", postgres.url);
}

/** Jobs an earlier run left queued would be run against mock gateways that are gone. */
async function dropTestQueues(pool: Pool): Promise<void> {
  const { rows } = await pool.query<{ schema: string }>(
    "SELECT nspname AS schema FROM pg_namespace WHERE starts_with(nspname, $1)",
    [TEST_BOSS_SCHEMA_PREFIX],
  );
  for (const { schema } of rows) await pool.query(`DROP SCHEMA ${escapeIdentifier(schema)} CASCADE`);
}

export async function teardown(): Promise<void> {
  for (const service of services) await service.stop();
}

const CLUSTER_READY_WAIT_MS = 5000;

/** With REDIS_CLUSTER_NODES set (.ci/redis-cluster), fail at once with a clear sentence rather than time out in every test. */
async function expectClusterReady(): Promise<void> {
  const cluster = connectRedis(loadConfig({ REDIS_CLUSTER_NODES: process.env.REDIS_CLUSTER_NODES }).redis, {
    maxRetriesPerRequest: 0,
  });
  cluster.on("error", () => undefined); // reported below, once
  try {
    // ioredis keeps retrying an unreachable cluster; give up after a few seconds.
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer in ${CLUSTER_READY_WAIT_MS} ms`)), CLUSTER_READY_WAIT_MS).unref(),
    );
    const info = String(await Promise.race([cluster.cluster("INFO"), timeout]));
    if (!info.includes("cluster_state:ok")) throw new Error(info);
  } catch (error) {
    throw new Error(
      `REDIS_CLUSTER_NODES=${process.env.REDIS_CLUSTER_NODES} is not a ready Redis Cluster (start one with .ci/redis-cluster start): ${String(error)}`,
    );
  } finally {
    cluster.disconnect();
  }
}
