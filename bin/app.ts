import type PgBoss from "pg-boss";
import { createServer } from "node:net";
import type { Config, PaymentsConfig } from "../engine/config.js";
import { Engine } from "../engine/engine.js";
import { createLogger, type Logger } from "../engine/logger.js";
import type { PaymentProvider } from "../engine/payments/provider.js";
import { createPaymentProvider } from "../engine/payments/registry.js";
import { createMockGateway } from "../gateway/gateway.js";
import { LiveStatus } from "../http/live.js";
import { engineAuthorizer } from "../http/auth.js";
import { metricsRoutes } from "../http/routes/health.js";
import type { HttpDeps } from "../http/deps.js";
import { engineRoutes, listen, type Listening } from "../http/server.js";
import { PaymentIngest } from "../jobs/payments.js";
import { outcomeOf, Periodic } from "../jobs/periodic.js";
import { startBoss } from "../jobs/queues.js";
import { closeEndedCheckouts } from "../jobs/checkouts.js";
import { Refunds } from "../jobs/refunds.js";
import type { Relay } from "../jobs/relay.js";
import { notifyingRelay } from "../application/deadLetters.js";
import { SearchSync } from "../jobs/searchSync.js";
import { startNotifications } from "../jobs/notifications.js";
import { sweepPass } from "../jobs/sweep.js";
import { connectRedis } from "../engine/redis.js";
import { createPool, type Pool } from "../sql/db.js";
import { migrate } from "../sql/migrate.js";

// Starts any set of roles in this process: serve (HTTP), work (relay, sweep, pg-boss) and
// gateway (the mock payment gateway). `npm start` runs all three.

export interface Roles {
  serve: boolean;
  work: boolean;
  gateway: boolean;
}

export interface RunningEngine {
  config: Config;
  engine: Engine;
  pool: Pool;
  relay: Relay;
  ingest: PaymentIngest;
  boss: PgBoss;
  log: Logger;
  http: Listening | null;
  /** GET /metrics on its own listener (METRICS_PORT); null when it is served with the other routes. */
  metricsHttp: Listening | null;
  gateway: Listening | null;
  stop(): Promise<void>;
}

/** A port nobody listens on now, for roles whose URLs must be known before they start. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Fills in port 0 with free ports, and the URLs that depend on them. */
async function withPorts(config: Config): Promise<Config> {
  const { http, payments } = config;
  const port = http.port === 0 ? await freePort() : http.port;
  const mockPort = payments.mock.port === 0 ? await freePort() : payments.mock.port;
  const publicUrl = http.port === 0 ? `http://127.0.0.1:${port}` : http.publicUrl;
  const webhookUrl = http.port === 0 ? `${publicUrl}/webhooks/stripe` : payments.mock.webhookUrl;
  return {
    ...config,
    http: { ...http, port, publicUrl },
    payments: { ...payments, mock: { ...payments.mock, port: mockPort, webhookUrl } },
  };
}

type Stop = () => Promise<void> | void;

/** The mock payment gateway on its own port. */
async function startGateway(config: PaymentsConfig, log: Logger, stops: Stop[]): Promise<Listening> {
  const mock = createMockGateway({
    webhookUrl: config.mock.webhookUrl,
    webhookSecret: config.mock.webhookSecret,
    apiKey: config.stripe.secretKey,
    publicUrl: () => `http://127.0.0.1:${config.mock.port}`,
    log,
  });
  stops.push(() => mock.stop());
  const gateway = await listen(mock.routes, config.mock.host, config.mock.port, log);
  stops.push(() => gateway.close());
  return gateway;
}

interface Serving {
  http: Listening | null;
  metricsHttp: Listening | null;
}

/** The serve role: the routes and the live channel on PORT, and /metrics on METRICS_PORT when it is set. */
async function startServing(deps: HttpDeps, stops: Stop[], sharePort: boolean): Promise<Serving> {
  const { config, engine, log } = deps;
  const live = new LiveStatus(engine, config, log);
  stops.push(() => live.stop());
  const authorizer = engineAuthorizer(config.http.adminToken, (bookingId, token) => engine.status(bookingId, token));
  const http = await listen(engineRoutes(deps), config.http.host, config.http.port, log, {
    authorizer,
    mount: (app) => live.mount(app),
    sharePort,
  });
  stops.push(() => http.close(config.http.shutdownDrainMs));
  if (config.http.metricsListen === null) return { http, metricsHttp: null };
  const { host, port } = config.http.metricsListen;
  const metricsHttp = await listen(metricsRoutes(), host, port, log, { sharePort });
  stops.push(() => metricsHttp.close());
  return { http, metricsHttp };
}

/** The mock gateway runs only beside the mock provider: it would pay for anything on request. */
function runsMockGateway(config: PaymentsConfig, roles: Roles): boolean {
  if (!roles.gateway || config.provider === "mock") return roles.gateway;
  if (!roles.serve && !roles.work)
    throw new Error(`the mock gateway runs only with PAYMENT_PROVIDER=mock, not ${config.provider}`);
  return false;
}

export interface StartOptions {
  /** Share the HTTP port with other processes (SO_REUSEPORT): only `serve --workers N` does. */
  sharePort?: boolean;
}

export async function startEngine(
  baseConfig: Config,
  roles: Roles,
  log = createLogger(baseConfig.logLevel, "onsale"),
  { sharePort = false }: StartOptions = {},
): Promise<RunningEngine> {
  const config = await withPorts(baseConfig);
  const redis = connectRedis(config.redis, {
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    commandTimeoutMs: config.redis.commandTimeoutMs,
    log,
  });
  const pool = createPool(config.postgres.url);
  const readPool = config.postgres.readUrl === config.postgres.url ? pool : createPool(config.postgres.readUrl);
  await migrate(pool);
  const engine = new Engine(redis, config);
  const provider = createPaymentProvider(config.payments);
  const stops: Stop[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop();
    redis.disconnect();
    await pool.end();
    if (readPool !== pool) await readPool.end();
  };
  // Serving processes queue jobs (refunds) as they record why; only workers run them.
  const boss = await startBoss(config.postgres, log, { maintain: roles.work });
  stops.push(() => boss.stop({ graceful: true, wait: true }));
  const relay = notifyingRelay({ pool, redis, config, boss, log });
  const ingest = new PaymentIngest(pool, engine, boss, log);

  let gateway: Listening | null = null;
  let serving: Serving = { http: null, metricsHttp: null };
  try {
    if (runsMockGateway(config.payments, roles)) gateway = await startGateway(config.payments, log, stops);
    if (roles.serve)
      serving = await startServing({ config, engine, pool, readPool, provider, ingest, boss, log }, stops, sharePort);
  } catch (error) {
    // A port in use: let go of what was started, so the caller's process can exit.
    await stopAll();
    throw error;
  }
  if (roles.work) {
    await new Refunds(pool, provider, log).work(boss);
    if (config.search.typesenseUrl) await new SearchSync(pool, config.search, log).work(boss);
    stops.push(await startNotifications({ boss, pool, engine, config, log }));
    stops.push(...startLoops({ config, engine, pool, provider, ingest, relay, log }));
  }

  return {
    config,
    engine,
    pool,
    relay,
    ingest,
    boss,
    log,
    ...serving,
    gateway,
    stop: stopAll,
  };
}

/** The work role's loops: relay, sweep, payment repair, checkout closing; returns what stops them. */
function startLoops(deps: {
  config: Config;
  engine: Engine;
  pool: Pool;
  provider: PaymentProvider;
  ingest: PaymentIngest;
  relay: Relay;
  log: Logger;
}): Stop[] {
  const { config, engine, pool, provider, ingest, relay, log } = deps;
  const { payments, holds } = config;
  const loops = [
    new Periodic("relay", config.relay.intervalMs, () => relay.pass(), log, config.relay.idleIntervalMs),
    new Periodic("sweep", holds.sweepIntervalMs, () => sweepPass(engine), log, holds.sweepIdleIntervalMs),
    new Periodic(
      "payments-repair",
      payments.repairIntervalMs,
      async () => outcomeOf(await ingest.repairStale(payments.repairAfterMs, config.relay.batch), config.relay.batch),
      log,
    ),
    new Periodic(
      "checkout-close",
      holds.sweepIntervalMs,
      () => closeEndedCheckouts(pool, provider, payments.checkoutCloseGraceMs, log),
      log,
      holds.sweepIdleIntervalMs,
    ),
  ];
  for (const loop of loops) loop.start();
  return loops.map((loop) => () => loop.stop());
}
