#!/usr/bin/env -S npx tsx
import { loadConfig, type Config } from "../engine/config.js";
import { uuidv7 } from "../engine/ids.js";
import { createLogger, type Logger } from "../engine/logger.js";
import { Engine } from "../engine/engine.js";
import { createPool } from "../sql/db.js";
import { insertEvent } from "../sql/events.js";
import { migrate } from "../sql/migrate.js";
import { resolve } from "node:path";
import { startEngine, type Roles } from "./app.js";
import { runSearchCommand } from "./search.js";
import { connectRedis } from "../engine/redis.js";
import { ensurePostgres, ensureRedis, type Service } from "./services.js";
import { isWorker, reportReady, superviseWorkers } from "./workers.js";
import { OPS_COMMANDS, runOps } from "./ops.js";
import { parseCommandLine, USAGE, UsageError, wholeNumber } from "./commandLine.js";

// One executable for every role:
//   start [--demo]   serve + work + mock gateway in one process (what `npm start` runs)
//   serve [--workers N] | work | gateway   one role, for scale-out (N HTTP processes on one port)
//   migrate          apply sql/migrations
//   seed             create a demo event and print how to book
//   generate | search reindex   catalog data and the Typesense index (bin/search.ts)

const ROLES: Record<string, Roles> = {
  start: { serve: true, work: true, gateway: true },
  serve: { serve: true, work: false, gateway: false },
  work: { serve: false, work: true, gateway: false },
  gateway: { serve: false, work: false, gateway: true },
};

async function services(config: Config, log: Logger): Promise<{ config: Config; services: Service[] }> {
  // On a Redis Cluster (REDIS_CLUSTER_NODES) there is no single local Redis to check or start.
  const redis: Service =
    config.redis.clusterNodes.length > 0
      ? { url: config.redis.url, stop: async () => undefined }
      : await ensureRedis(config.redis.url, config.redis.urlGiven, log);
  const postgres = await ensurePostgres(config.postgres.url, config.postgres.urlGiven, log);
  const readUrl = config.postgres.readUrlGiven ? config.postgres.readUrl : postgres.url;
  return {
    config: {
      ...config,
      redis: { ...config.redis, url: redis.url },
      postgres: { ...config.postgres, url: postgres.url, readUrl },
    },
    services: [redis, postgres],
  };
}

async function seedDemo(config: Config, engine: Engine, log: Logger): Promise<string> {
  const pool = createPool(config.postgres.url, 2);
  try {
    const nowMs = Date.now();
    const event = await insertEvent(pool, {
      id: uuidv7(nowMs),
      name: "Demo Stadium Tour",
      venue: "Demo Arena",
      startsAt: new Date(nowMs + 30 * 86_400_000),
      timeZone: "Europe/Paris",
      capacity: 100,
      price: 4500,
      currency: "eur",
      maxPerUser: 4,
      saleStartsAt: null,
      saleEndsAt: null,
      status: "on_sale",
    });
    await engine.loadEvent(event, 0);
    log.info({ eventId: event.id }, "demo event created");
    return event.id;
  } finally {
    await pool.end();
  }
}

function howToBook(config: Config, eventId: string): string {
  const base = config.http.publicUrl;
  return [
    "",
    `Engine on ${base} (mock payment gateway on http://127.0.0.1:${config.payments.mock.port}). Demo event: ${eventId}`,
    `Book in a browser (waiting room, countdown, checkout): ${base}/e/${eventId}`,
    "Book two tickets:",
    `  curl -s -X POST ${base}/bookings -H 'Content-Type: application/json' -d '{"userId":"alice","eventId":"${eventId}","quantity":2,"email":"alice@example.com"}'`,
    "Read it back with the token from that answer:",
    `  curl -s ${base}/bookings/<id> -H 'Authorization: Bearer <token>'`,
    "Pay: open the paymentUrl from the answer in a browser and press Pay. Cancel instead:",
    `  curl -s -X DELETE ${base}/bookings/<id> -H 'Authorization: Bearer <token>'`,
    `The event: curl -s ${base}/events/${eventId}`,
    ...(config.mail.smtpUrl === ""
      ? [
          `Emails (confirmation with .ics, your turn, reminders, refunds) are stored in ${resolve(config.mail.dir)}; list them with: npx tsx bin/onsale.ts mail`,
        ]
      : []),
    "",
  ].join("\n");
}

/** Most HTTP processes `serve --workers` starts. */
const SERVE_WORKERS_MAX = 64;

async function main(argv: string[]): Promise<void> {
  const line = parseCommandLine(argv);
  if (line === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { command } = line;
  const workersGiven = line.values.workers !== undefined;
  const workersFlag = wholeNumber(line, "workers", 1, 1, SERVE_WORKERS_MAX);
  let config = loadConfig();
  const log = createLogger(config.logLevel, "onsale");

  const ready = await services(config, log);
  config = ready.config;
  const stopServices = async () => {
    for (const service of ready.services) await service.stop();
  };

  if (command === "migrate") {
    const pool = createPool(config.postgres.url, 1);
    const applied = await migrate(pool);
    await pool.end();
    log.info({ applied }, applied.length ? "migrations applied" : "database already up to date");
    await stopServices();
    return;
  }
  if (OPS_COMMANDS.includes(command)) {
    await runOps(line, config, log).finally(stopServices);
    return;
  }
  if (await runSearchCommand(line, config, log)) {
    await stopServices();
    return;
  }
  if (command === "seed") {
    const pool = createPool(config.postgres.url, 1);
    await migrate(pool);
    await pool.end();
    const redis = connectRedis(config.redis, { log });
    const eventId = await seedDemo(config, new Engine(redis, config), log);
    redis.disconnect();
    process.stdout.write(howToBook(config, eventId));
    await stopServices();
    return;
  }

  const workers = workersGiven ? workersFlag : config.http.workers;
  if (command === "serve" && workers > 1 && !isWorker()) {
    await superviseWorkers(workers, log);
    return;
  }

  // The processes of `serve --workers N` (and N=1, for a rolling restart beside the old ones)
  // share the port; any other second start on a port in use fails.
  const running = await startEngine(config, ROLES[command]!, log, {
    sharePort: command === "serve" && (workersGiven || config.http.workersGiven),
  });
  if (line.values.demo === true) {
    const eventId = await seedDemo(running.config, running.engine, log);
    process.stdout.write(howToBook(running.config, eventId));
  }
  log.info({ roles: ROLES[command], port: running.http?.port }, "engine started");
  if (isWorker()) reportReady();

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    // Requests already in flight are answered before the process exits (SHUTDOWN_DRAIN_SECONDS).
    await running.stop();
    await stopServices();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

main(process.argv.slice(2)).catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(error instanceof UsageError ? 2 : 1);
});
