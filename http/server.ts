import uWS from "uWebSockets.js";
import type { Logger } from "../engine/logger.js";
import type { HttpDeps } from "./deps.js";
import { InFlight, problemReply, route, type RouteSpec } from "./exchange.js";
import type { Authorizer } from "./auth.js";
import { problems } from "./problems.js";
import { bookingRoutes } from "./routes/bookings.js";
import { challengeRoutes } from "./routes/challenge.js";
import { siteRoutes } from "./routes/site.js";
import { eventRoutes } from "./routes/events.js";
import { healthRoutes, metricsRoutes } from "./routes/health.js";
import { payRoutes } from "./routes/pay.js";
import { paymentAdminRoutes } from "./routes/payments.js";
import { searchRoutes } from "./routes/search.js";
import { webhookRoutes } from "./routes/webhooks.js";
import { operationRoutes } from "./routes/operations.js";

export interface Listening {
  port: number;
  /** Every route registered, as declared. */
  routes: readonly RouteSpec[];
  /** Stops accepting connections, then waits up to drainMs for the requests in flight. */
  close(drainMs?: number): Promise<void>;
}

export interface ListenOptions {
  /** Checks routes that declare admin or booking authorization; routes of a server without one must all be "none". */
  authorizer?: Authorizer;
  /** Adds what is not a plain route (the live channel's WebSocket). */
  mount?: (app: uWS.TemplatedApp) => void;
  /**
   * Listen with SO_REUSEPORT, so that other processes may listen on the same port and the kernel
   * spreads connections over them: only the HTTP processes of one `serve --workers N`. Otherwise
   * the port is exclusive, and a second start on it fails.
   */
  sharePort?: boolean;
}

/** Starts a uWS app with the given routes and a problem+json 404 for everything else. */
export function listen(
  routes: RouteSpec[],
  host: string,
  port: number,
  log: Logger,
  options: ListenOptions = {},
): Promise<Listening> {
  const app = uWS.App();
  const inFlight = new InFlight();
  for (const spec of routes) route(app, spec, log, inFlight, options.authorizer ?? null);
  options.mount?.(app);
  app.any("/*", (res, req) => {
    const body = JSON.stringify(
      problemReply(problems.notFound(`No route for ${req.getMethod().toUpperCase()} ${req.getUrl()}.`), req.getUrl())
        .json,
    );
    res.cork(() => {
      res.writeStatus("404 Not Found").writeHeader("Content-Type", "application/problem+json").end(body);
    });
  });
  return new Promise((resolve, reject) => {
    listenOn(app, host, port, options.sharePort ? LISTEN_SHARED : LISTEN_EXCLUSIVE_PORT, (socket) => {
      if (!socket) {
        reject(new Error(`cannot listen on ${host}:${port}: port in use`));
        return;
      }
      resolve({
        port: uWS.us_socket_local_port(socket),
        routes,
        async close(drainMs = 0) {
          // No new connections from here; other processes on the port take them.
          uWS.us_listen_socket_close(socket);
          if (!(await inFlight.drain(drainMs)))
            log.warn({ inFlight: inFlight.count, drainMs }, "stopped with requests still in flight");
        },
      });
    });
  });
}

/** uSockets' listen options (LIBUS_LISTEN_DEFAULT, LIBUS_LISTEN_EXCLUSIVE_PORT). */
const LISTEN_SHARED = 0;
const LISTEN_EXCLUSIVE_PORT = 1;

type ListenWithOptions = (
  host: string,
  port: number,
  options: number,
  done: (socket: uWS.us_listen_socket | false) => void,
) => void;

/** uWS's listen with a host and options; its type declarations name only (port, options). */
function listenOn(
  app: uWS.TemplatedApp,
  host: string,
  port: number,
  options: number,
  done: (socket: uWS.us_listen_socket | false) => void,
): void {
  (app.listen as unknown as ListenWithOptions).call(app, host, port, options, done);
}

export function engineRoutes(deps: HttpDeps): RouteSpec[] {
  return [
    ...healthRoutes(deps),
    ...(deps.config.http.metricsListen === null ? metricsRoutes() : []),
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
