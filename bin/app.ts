import { createServer } from "node:net";
import { Redis } from "ioredis";
import PgBoss from "pg-boss";
import type { Config } from "../engine/config.js";
import { Engine } from "../engine/engine.js";
import { createLogger, type Logger } from "../engine/logger.js";
import { createPaymentProvider } from "../engine/payments.js";
import { mockGatewayRoutes } from "../http/mockGateway.js";
import { engineRoutes, listen, type Listening } from "../http/server.js";
import { PaymentIngest } from "../jobs/payments.js";
import { Periodic } from "../jobs/periodic.js";
import { Relay } from "../jobs/relay.js";
import { sweepPass } from "../jobs/sweep.js";
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
  log: Logger;
  http: Listening | null;
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
export async function withPorts(config: Config): Promise<Config> {
  const port = config.port === 0 ? await freePort() : config.port;
  const mockGatewayPort = config.mockGatewayPort === 0 ? await freePort() : config.mockGatewayPort;
  const publicUrl = config.port === 0 ? `http://127.0.0.1:${port}` : config.publicUrl;
  const mockWebhookUrl = config.port === 0 ? `${publicUrl}/webhooks/stripe` : config.mockWebhookUrl;
  return { ...config, port, mockGatewayPort, publicUrl, mockWebhookUrl };
}

export async function startEngine(baseConfig: Config, roles: Roles, log = createLogger(baseConfig.logLevel, "onsale")): Promise<RunningEngine> {
  const config = await withPorts(baseConfig);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 3, enableAutoPipelining: true });
  const pool = createPool(config.databaseUrl);
  const readPool = config.databaseReadUrl === config.databaseUrl ? pool : createPool(config.databaseReadUrl);
  await migrate(pool);
  const engine = new Engine(redis, config);
  const provider = createPaymentProvider(config);
  const ingest = new PaymentIngest(pool, engine, provider.name, log);
  const relay = new Relay(pool, redis, config, log);
  const stops: (() => Promise<void> | void)[] = [];

  let gateway: Listening | null = null;
  if (roles.gateway) {
    gateway = await listen(
      mockGatewayRoutes({
        webhookUrl: config.mockWebhookUrl,
        webhookSecret: config.stripeWebhookSecret,
        publicUrl: () => `http://127.0.0.1:${config.mockGatewayPort}`,
        log,
      }),
      config.host,
      config.mockGatewayPort,
      log,
    );
    stops.push(() => gateway!.close());
  }
  let http: Listening | null = null;
  if (roles.serve) {
    http = await listen(engineRoutes({ config, engine, pool, readPool, provider, ingest, log }), config.host, config.port, log);
    stops.push(() => http!.close());
  }
  if (roles.work) {
    const boss = new PgBoss({ connectionString: config.databaseUrl, schema: "pgboss" });
    boss.on("error", (error) => log.error({ err: error }, "pg-boss error"));
    await boss.start();
    const relayLoop = new Periodic("relay", config.relayIntervalMs, () => relay.pass(), log);
    const sweepLoop = new Periodic("sweep", config.sweepIntervalMs, () => sweepPass(engine), log);
    relayLoop.start();
    sweepLoop.start();
    stops.push(() => relayLoop.stop(), () => sweepLoop.stop(), () => boss.stop({ graceful: true, wait: true }));
  }

  return {
    config,
    engine,
    pool,
    relay,
    log,
    http,
    gateway,
    async stop() {
      for (const stop of stops) await stop();
      redis.disconnect();
      await pool.end();
      if (readPool !== pool) await readPool.end();
    },
  };
}
