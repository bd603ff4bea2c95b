import uWS from "uWebSockets.js";
import type { Config } from "../engine/config.js";
import type { Engine } from "../engine/engine.js";
import type { Logger } from "../engine/logger.js";
import type { PaymentProvider } from "../engine/payments.js";
import type { PaymentIngest } from "../jobs/payments.js";
import type { Pool } from "../sql/db.js";
import { problemReply, route, type RouteSpec } from "./exchange.js";
import { problems } from "./problems.js";
import { bookingRoutes } from "./routes/bookings.js";
import { eventRoutes } from "./routes/events.js";
import { healthRoutes } from "./routes/health.js";
import { payRoutes } from "./routes/pay.js";
import { webhookRoutes } from "./routes/webhooks.js";

export interface HttpDeps {
  config: Config;
  engine: Engine;
  pool: Pool;
  readPool: Pool;
  provider: PaymentProvider;
  ingest: PaymentIngest;
  log: Logger;
}

export interface Listening {
  port: number;
  close(): void;
}

/** Starts a uWS app with the given routes and a problem+json 404 for everything else. */
export function listen(routes: RouteSpec[], host: string, port: number, log: Logger): Promise<Listening> {
  const app = uWS.App();
  for (const spec of routes) route(app, spec, log);
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
      resolve({ port: uWS.us_socket_local_port(socket), close: () => uWS.us_listen_socket_close(socket) });
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
  ];
}
