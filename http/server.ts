import type PgBoss from "pg-boss";
import uWS from "uWebSockets.js";
import type { Config } from "../engine/config.js";
import type { Engine } from "../engine/engine.js";
import type { Logger } from "../engine/logger.js";
import type { PaymentProvider } from "../engine/payments/provider.js";
import type { PaymentIngest } from "../jobs/payments.js";
import type { Pool } from "../sql/db.js";
import { InFlight, problemReply, route, type RouteSpec } from "./exchange.js";
import { problems } from "./problems.js";
import { bookingRoutes } from "./routes/bookings.js";
import { challengeRoutes } from "./routes/challenge.js";
import { siteRoutes } from "./routes/site.js";
import { eventRoutes } from "./routes/events.js";
import { healthRoutes } from "./routes/health.js";
import { payRoutes } from "./routes/pay.js";
import { paymentAdminRoutes } from "./routes/payments.js";
import { searchRoutes } from "./routes/search.js";
import { webhookRoutes } from "./routes/webhooks.js";
import { operationRoutes } from "./routes/operations.js";

export interface HttpDeps {
  config: Config;
  engine: Engine;
  pool: Pool;
  readPool: Pool;
  provider: PaymentProvider;
  ingest: PaymentIngest;
  /** Serving processes only queue jobs with it. */
  boss: PgBoss;
  log: Logger;
}

export interface Listening {
  port: number;
  /** Stops accepting connections, then waits up to drainMs for the requests in flight. */
  close(drainMs?: number): Promise<void>;
}

/** Starts a uWS app with the given routes and a problem+json 404 for everything else. */
export function listen(routes: RouteSpec[], host: string, port: number, log: Logger, mount?: (app: uWS.TemplatedApp) => void): Promise<Listening> {
  const app = uWS.App();
  const inFlight = new InFlight();
  for (const spec of routes) route(app, spec, log, inFlight);
  mount?.(app);
  app.any("/*", (res, req) => {
    const body = JSON.stringify(problemReply(problems.notFound(`No route for ${req.getMethod().toUpperCase()} ${req.getUrl()}.`), req.getUrl()).json);
    res.cork(() => {
      res.writeStatus("404 Not Found").writeHeader("Content-Type", "application/problem+json").end(body);
    });
  });
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (!socket) {
        reject(new Error(`cannot listen on ${host}:${port}; is the port taken?`));
        return;
      }
      resolve({
        port: uWS.us_socket_local_port(socket),
        async close(drainMs = 0) {
          // No new connections from here; other processes on the port take them.
          uWS.us_listen_socket_close(socket);
          if (!(await inFlight.drain(drainMs))) log.warn({ inFlight: inFlight.count, drainMs }, "stopped with requests still in flight");
        },
      });
    });
  });
}

export function engineRoutes(deps: HttpDeps): RouteSpec[] {
  return [
    ...healthRoutes(deps),
    ...eventRoutes(deps),
    ...bookingRoutes(deps),
    ...payRoutes(deps),
    ...webhookRoutes(deps),
    ...searchRoutes(deps),
    ...challengeRoutes(deps),
    ...siteRoutes(deps),
    ...operationRoutes(deps),
    ...paymentAdminRoutes(deps),
  ];
}
