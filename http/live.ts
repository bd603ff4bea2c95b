import type { HttpResponse, TemplatedApp } from "uWebSockets.js";
import type { Config } from "../engine/config.js";
import type { Engine } from "../engine/engine.js";
import { EngineError } from "../engine/errors.js";
import { eventIdOfToken, isUuid } from "../engine/ids.js";
import type { Logger } from "../engine/logger.js";
import { metrics } from "../engine/metrics.js";
import { problemReply, writeReply } from "./exchange.js";
import { Followers, type Follower } from "./liveFollowers.js";
import { problems, toProblem, type Problem } from "./problems.js";

// WS /live?booking=<id>&token=<token>: pushes a booking's place in line, its turn (payment
// link and deadline) and its end as they happen. Changes reach every HTTP process the same
// way: each process tails the per-event log stream `log:{E}` (the one the relay reads) for
// the events its sockets follow (http/liveFollowers.ts). GET /bookings/:id stays the polling
// fallback. This file is the socket side: admitting upgrades, opening and closing sockets.

const SOCKET_BACKPRESSURE_BYTES = 64 * 1024;

export class LiveStatus {
  private readonly followers: Followers;
  private sockets = 0;

  constructor(
    private readonly engine: Engine,
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.followers = new Followers(engine, config, log);
  }

  mount(app: TemplatedApp): void {
    app.ws<Follower>("/live", {
      idleTimeout: 60,
      sendPingsAutomatically: true,
      maxPayloadLength: 512,
      maxBackpressure: SOCKET_BACKPRESSURE_BYTES,
      closeOnBackpressureLimit: 1,
      upgrade: (res, req, context) => {
        const query = new URLSearchParams(req.getQuery() ?? "");
        const key = req.getHeader("sec-websocket-key");
        const protocol = req.getHeader("sec-websocket-protocol");
        const extensions = req.getHeader("sec-websocket-extensions");
        const state = { aborted: false };
        res.onAborted(() => {
          state.aborted = true;
        });
        this.admit(query.get("booking") ?? "", query.get("token") ?? "").then(
          (follower) => {
            if (state.aborted) {
              if (typeof follower !== "number") this.followers.release(follower.eventId, false);
              return;
            }
            res.cork(() => {
              if (typeof follower === "number") refuse(res, follower);
              else res.upgrade(follower, key, protocol, extensions, context);
            });
          },
          (error: unknown) => {
            this.log.error({ err: error }, "live upgrade failed");
            if (!state.aborted) res.cork(() => refuse(res, 500));
          },
        );
      },
      open: (ws) => {
        this.sockets += 1;
        metrics.liveSockets.set(this.sockets);
        this.followers.opened(ws);
      },
      close: (ws) => {
        this.sockets -= 1;
        metrics.liveSockets.set(this.sockets);
        this.followers.closed(ws);
      },
    });
  }

  stop(): void {
    this.followers.stop();
  }

  /** Checks the token and starts following the event; a number is the HTTP status to refuse with. */
  private async admit(bookingId: string, token: string): Promise<Follower | number> {
    const eventId = eventIdOfToken(token);
    if (!isUuid(bookingId) || eventId === null) return 404;
    if (this.sockets >= this.config.limits.liveSocketsMax) return 503;
    await this.followers.follow(eventId);
    const booking = await this.engine.status(bookingId, token).catch(() => null);
    if (booking === null) {
      this.followers.release(eventId, false);
      return 404;
    }
    return { eventId, bookingId, token, status: booking.status, lastJson: "", closed: false };
  }
}

const REFUSALS: Record<number, () => Problem> = {
  404: () => toProblem(new EngineError("BOOKING_NOT_FOUND", ""))!,
  503: () => problems.unavailable("Too many live connections on this process (LIVE_SOCKETS_MAX); poll GET /bookings/:id."),
  500: () => problems.internal(),
};

/** Answers an upgrade that is refused with a problem+json body, like every other route. */
function refuse(res: HttpResponse, status: number): void {
  writeReply(res, problemReply(REFUSALS[status]!(), "/live"));
}
