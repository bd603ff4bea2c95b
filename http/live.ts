import type { HttpResponse, TemplatedApp } from "uWebSockets.js";
import type { Config } from "../engine/config.js";
import type { Engine } from "../engine/engine.js";
import { EngineError } from "../engine/errors.js";
import { eventIdOfToken, isUuid } from "../engine/ids.js";
import { bookingKey } from "../engine/keys.js";
import type { Logger } from "../engine/logger.js";
import { metrics } from "../engine/metrics.js";
import { isRedisUnavailable } from "../engine/redis.js";
import { BOOKING } from "../engine/schema.js";
import { clientAddress, problemReply, writeReply } from "./exchange.js";
import { Followers, type Follower } from "./liveFollowers.js";
import { problems, toProblem, type Problem } from "./problems.js";

// WS /live?booking=<id>&token=<token>: pushes a booking's place in line, its turn (payment
// link and deadline) and its end as they happen. Changes reach every HTTP process the same
// way: each process tails the per-event log stream `log:{E}` (the one the relay reads) for
// the events its sockets follow (http/liveFollowers.ts). GET /bookings/:id stays the polling
// fallback. This file is the socket side: admitting upgrades, opening and closing sockets.
// An upgrade's token is checked before its event is followed, so a forged one costs one
// booking read and no stream read; sockets are counted per booking and per client address
// from admission to close (LIVE_SOCKETS_PER_BOOKING, LIVE_SOCKETS_PER_IP: 429 beyond).

const SOCKET_BACKPRESSURE_BYTES = 64 * 1024;

export class LiveStatus {
  private readonly followers: Followers;
  private sockets = 0;
  /** Sockets admitted and not closed, per booking and per client address; absent at 0. */
  private readonly perBooking = new Map<string, number>();
  private readonly perIp = new Map<string, number>();

  constructor(
    private readonly engine: Engine,
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.followers = new Followers(engine.redis, config, log);
  }

  mount(app: TemplatedApp): void {
    app.ws<Follower>("/live", {
      // A person waits without sending anything: pinged when idle, closed only if the ping goes unanswered.
      idleTimeout: this.config.limits.liveIdleSeconds,
      sendPingsAutomatically: true,
      maxPayloadLength: 512,
      maxBackpressure: SOCKET_BACKPRESSURE_BYTES,
      closeOnBackpressureLimit: 1,
      upgrade: (res, req, context) => {
        const query = new URLSearchParams(req.getQuery() ?? "");
        const key = req.getHeader("sec-websocket-key");
        const protocol = req.getHeader("sec-websocket-protocol");
        const extensions = req.getHeader("sec-websocket-extensions");
        const ip = clientAddress(res, req, this.config.antiBot.trustProxy);
        const state = { aborted: false };
        res.onAborted(() => {
          state.aborted = true;
        });
        this.admit(query.get("booking") ?? "", query.get("token") ?? "", ip).then(
          (follower) => {
            if (state.aborted) {
              if (typeof follower !== "number") {
                this.followers.release(follower.eventId, false, follower.watched);
                this.count(follower, -1);
              }
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
        this.count(ws.getUserData(), -1);
      },
    });
  }

  stop(): void {
    this.followers.stop();
  }

  /** Checks the caps and the token, then starts following the event; a number is the HTTP status to refuse with. */
  private async admit(bookingId: string, token: string, ip: string): Promise<Follower | number> {
    const eventId = eventIdOfToken(token);
    if (!isUuid(bookingId) || eventId === null) return 404;
    const { liveSocketsMax, liveSocketsPerBooking, liveSocketsPerIp } = this.config.limits;
    if (this.sockets >= liveSocketsMax) return 503;
    if ((this.perBooking.get(bookingId) ?? 0) >= liveSocketsPerBooking || (this.perIp.get(ip) ?? 0) >= liveSocketsPerIp)
      return 429;
    // Counted before the read, so concurrent upgrades cannot all pass the caps at once.
    const follower: Follower = { eventId, bookingId, ip, watched: null };
    this.count(follower, 1);
    const refusal = (error: unknown) => (isRedisUnavailable(error) ? 503 : null);
    const checked = await this.engine.status(bookingId, token).catch(refusal);
    if (checked === null || checked === 503) {
      this.count(follower, -1);
      return checked ?? 404;
    }
    const followed = await this.followers.follow(eventId).then(() => true as const, refusal);
    if (followed !== true) {
      this.count(follower, -1);
      return followed ?? 500;
    }
    // Watched before it is read again: every change after that read reaches the follower.
    follower.watched = this.followers.watch(eventId, checked);
    const read = await Promise.all([
      this.engine.status(bookingId, token),
      this.engine.redis.hget(bookingKey(eventId, bookingId), BOOKING.seq),
    ]).catch(refusal);
    if (read === null || read === 503) {
      this.followers.release(eventId, false, follower.watched);
      this.count(follower, -1);
      return read ?? 404;
    }
    this.followers.settle(follower.watched, read[0], Number(read[1] ?? 0));
    return follower;
  }

  private count(follower: Follower, delta: 1 | -1): void {
    for (const [counts, key] of [
      [this.perBooking, follower.bookingId],
      [this.perIp, follower.ip],
    ] as const) {
      const next = (counts.get(key) ?? 0) + delta;
      if (next > 0) counts.set(key, next);
      else counts.delete(key);
    }
  }
}

const REFUSALS: Record<number, () => Problem> = {
  404: () => toProblem(new EngineError("BOOKING_NOT_FOUND", ""))!,
  429: () => problems.liveSocketsLimit(),
  503: () =>
    problems.unavailable(
      "Too many live connections on this process (LIVE_SOCKETS_MAX), or live inventory (Redis) not answering; poll GET /bookings/:id.",
    ),
  500: () => problems.internal(),
};

/** Answers an upgrade that is refused with a problem+json body, like every other route. */
function refuse(res: HttpResponse, status: number): void {
  writeReply(res, problemReply(REFUSALS[status]!(), "/live"));
}
