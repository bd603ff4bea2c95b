import { Admission } from "../../engine/admission.js";
import { EngineError } from "../../engine/errors.js";
import { isUuid } from "../../engine/ids.js";
import type { Reply, RouteSpec } from "../exchange.js";
import type { HttpDeps } from "../deps.js";

// GET /events/:id/challenge: a fresh proof-of-work challenge for booking this event.
// Find a solution (a string) such that SHA-256("<challenge>:<solution>") starts with
// difficultyBits zero bits, and send both with POST /bookings before expiresAt.

export function challengeRoutes(deps: HttpDeps): RouteSpec[] {
  const admission = new Admission(deps.engine.redis, deps.config.antiBot);
  return [
    {
      method: "get",
      pattern: "/events/:id/challenge",
      name: "events.challenge",
      auth: "none",
      async handler({ params }): Promise<Reply> {
        const eventId = params[0] ?? "";
        const challenge = isUuid(eventId) ? await admission.challenge(eventId) : null;
        if (challenge === null) throw new EngineError("EVENT_NOT_FOUND", "");
        return {
          status: 200,
          json: {
            challenge: challenge.challenge,
            difficultyBits: challenge.bits,
            expiresAt: new Date(challenge.expiresAtMs).toISOString(),
            algorithm: "sha256-leading-zero-bits",
          },
          headers: { "Cache-Control": "no-store" },
        };
      },
    },
  ];
}
