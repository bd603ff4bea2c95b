import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "../../bin/app.js";
import { loadConfig } from "../../engine/config.js";
import { Engine } from "../../engine/engine.js";
import { createPool, type Pool } from "../../sql/db.js";
import { ensureDatabase } from "../../sql/migrate.js";
import { createEventOver } from "../../testkit/fixtures.js";
import { sleep, startProc, startRole, type Proc } from "../../testkit/processes.js";
import { waitForRelay, verifyOnSale, type Invariants } from "../../testkit/verify.js";
import { checkoutCompleted, stripeSignature } from "../../testkit/webhooks.js";

// What the fault scenarios are made of: real processes they can kill (engine roles,
// redis-server, a PostgreSQL cluster of their own), and the checks every scenario ends with.
// Nothing here touches the machine's Redis or PostgreSQL servers beyond a database of its own.

const ADMIN_TOKEN = "faults-admin-token";
const WEBHOOK_SECRET = "whsec_faults";

export { sleep, startRole, type Proc };

/** Settings for engine processes of one scenario. */
export function engineEnv(
  redisUrl: string,
  databaseUrl: string,
  port: number,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PORT: String(port),
    MOCK_GATEWAY_PORT: String(port + 1),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    REDIS_URL: redisUrl,
    DATABASE_URL: databaseUrl,
    ADMIN_TOKEN,
    MOCK_WEBHOOK_SECRET: WEBHOOK_SECRET,
    PGBOSS_SCHEMA: "pgboss_faults",
    LOG_LEVEL: "info",
    RATE_IP_PER_S: "1000000",
    RATE_IP_BURST: "10000000",
    RATE_USER_PER_S: "1000",
    RATE_USER_BURST: "1000",
    IP_BOOKINGS_MAX: "10000000",
    RELAY_INTERVAL_MS: "50",
    SWEEP_INTERVAL_MS: "200",
    ...extra,
  };
}

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  proc: Proc;
  /** Starts it again on the same port and data directory (after a kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A redis-server of the scenario's own, with AOF when `appendfsync` is given. */
export async function startRedis(appendfsync?: "always" | "everysec"): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "onsale-faults-redis-"));
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", ""];
  args.push(...(appendfsync ? ["--appendonly", "yes", "--appendfsync", appendfsync] : ["--appendonly", "no"]));
  const launch = () =>
    startProc({
      name: "redis",
      command: "redis-server",
      args,
      readyWhen: /Ready to accept connections/,
      readyTimeoutMs: 20_000,
    });
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    proc: await launch(),
    async restart() {
      server.proc = await launch();
    },
    async stop() {
      server.proc.kill("SIGKILL");
      await server.proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

export interface PostgresServer {
  url: string;
  start(): void;
  stop(): void;
  destroy(): void;
}

const PG_BIN = "/usr/lib/postgresql/15/bin";

/** A PostgreSQL cluster of the scenario's own (initdb into a temp dir), run as the postgres user. */
export async function startPostgres(): Promise<PostgresServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "onsale-faults-pg-"));
  const asPostgres = (command: string, args: string[]) => {
    const result = spawnSync("runuser", ["-u", "postgres", "--", `${PG_BIN}/${command}`, ...args], {
      encoding: "utf8",
    });
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}${result.stdout}`);
  };
  spawnSync("chown", ["postgres", dir]);
  asPostgres("initdb", ["-D", dir, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const server: PostgresServer = {
    url: `postgres://postgres@127.0.0.1:${port}/onsale_faults`,
    start: () =>
      asPostgres("pg_ctl", [
        "-D",
        dir,
        "-w",
        "-l",
        join(dir, "log"),
        "-o",
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
        "start",
      ]),
    stop: () => asPostgres("pg_ctl", ["-D", dir, "-w", "-m", "fast", "stop"]),
    destroy() {
      spawnSync("runuser", ["-u", "postgres", "--", `${PG_BIN}/pg_ctl`, "-D", dir, "-m", "immediate", "stop"]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  server.start();
  await ensureDatabase(server.url);
  return server;
}

/**
 * A database of its own on the machine's PostgreSQL, for scenarios that do not stop it.
 * FAULTS_DATABASE_PREFIX goes before its name, so two runs on one server do not share one.
 */
export async function scenarioDatabase(name: string): Promise<string> {
  const base = new URL(process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/onsale_test");
  base.pathname = `/${process.env.FAULTS_DATABASE_PREFIX ?? ""}${name}`;
  await ensureDatabase(base.toString());
  return base.toString();
}

/** Talks to an engine over HTTP like a client that retries with its Idempotency-Key. */
export class Client {
  constructor(readonly base: string) {}

  createEvent(capacity: number, fields: Record<string, unknown> = {}): Promise<string> {
    return createEventOver(this.base, ADMIN_TOKEN, { name: "Fault Tour", venue: "Fault Arena", capacity, ...fields });
  }

  /**
   * Books with an Idempotency-Key, retrying on connection errors and 5xx as a client should;
   * returns the answer and how many attempts it took.
   */
  async book(
    eventId: string,
    userId: string,
    attemptsMax = 50,
  ): Promise<{ status: number; body: any; attempts: number }> {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(`${this.base}/bookings`, {
          method: "POST",
          headers: { "Content-Type": "application/json", "Idempotency-Key": `key-${userId}` },
          body: JSON.stringify({ eventId, userId, quantity: 1 }),
        });
        const body = await response.json();
        if (response.status < 500) return { status: response.status, body, attempts: attempt };
      } catch {
        // the process we talked to died, or the connection closed under us: retry
      }
      if (attempt >= attemptsMax) throw new Error(`booking for ${userId} failed ${attempt} times`);
      await sleep(100);
    }
  }

  /** Posts a checkout.session.completed for a booking, signed as Stripe signs it. */
  async pay(eventId: string, booking: { id: string }, eventSuffix = ""): Promise<Response> {
    const payload = JSON.stringify(
      checkoutCompleted({
        id: `evt_fault_${booking.id}${eventSuffix}`,
        bookingId: booking.id,
        eventId,
        amount: 5000,
        sessionId: `cs_fault_${booking.id}`,
        paymentIntent: `pi_fault_${booking.id}`,
      }),
    );
    return fetch(`${this.base}/webhooks/stripe`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Stripe-Signature": stripeSignature(payload, WEBHOOK_SECRET) },
      body: payload,
    });
  }
}

/** Runs `count` tasks with at most `concurrency` at once. */
export async function inParallel<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const index = next++;
        results[index] = await task(index);
      }
    }),
  );
  return results;
}

/** The end of every scenario: the relay has caught up, and no oversell, FCFS, exactly-once rows. */
export async function verifyScenario(redisUrl: string, databaseUrl: string, eventId: string): Promise<Invariants> {
  const redis = new Redis(redisUrl);
  const pool: Pool = createPool(databaseUrl, 2);
  try {
    const engine = new Engine(redis, loadConfig({ REDIS_URL: redisUrl, DATABASE_URL: databaseUrl }));
    await waitForRelay(pool, redis, eventId, 60_000);
    return await verifyOnSale(engine, pool, eventId, 0);
  } finally {
    redis.disconnect();
    await pool.end();
  }
}
