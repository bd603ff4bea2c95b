import { Admission } from "../../engine/admission.js";
import { EngineError } from "../../engine/errors.js";
import { liveEventsKey } from "../../engine/keys.js";
import { STATE } from "../../engine/schema.js";
import { selectEvent } from "../../sql/events.js";
import { POW_SOLUTION_CHARS } from "../../engine/pow.js";
import { bookingView } from "../bookingView.js";
import type { Reply, RouteSpec } from "../exchange.js";
import { problems } from "../problems.js";
import type { HttpDeps } from "../deps.js";
import type { Limits } from "../../engine/config.js";
import { USER_ID, UserTokens } from "../userTokens.js";
import { Fields, parseJsonObject } from "../validate.js";

// POST /bookings, GET /bookings/:id, DELETE /bookings/:id.

const IDEMPOTENCY_KEY = /^[\x21-\x7e]+$/;

const EVENT_ID = /^[0-9a-f-]{36}$/;

/** How each field of a POST /bookings body is read; built once per route, not per request. */
function bookingFieldRules(limits: Limits, tokenNamesUser: boolean) {
  return {
    userId: {
      // With signed identities the token names the person, so the body may leave userId out.
      required: !tokenNamesUser,
      maxChars: limits.userIdChars,
      pattern: USER_ID,
      patternHint: "may hold letters, digits and . _ @ + | -",
    },
    eventId: {
      required: true,
      maxChars: 36,
      pattern: EVENT_ID,
      patternHint: "must be an event id (a lower-case UUID)",
    },
    quantity: { required: true, min: 1, max: limits.quantityMax },
    email: { required: false, maxChars: limits.emailChars },
    powChallenge: { required: false, maxChars: 256 },
    powSolution: { required: false, maxChars: POW_SOLUTION_CHARS },
    idempotencyKeyReason: `must be 1 to ${limits.idempotencyKeyChars} printable ASCII characters`,
  };
}
type BookingFieldRules = ReturnType<typeof bookingFieldRules>;

/** A POST /bookings body and its Idempotency-Key, checked; 422 listing every problem. */
function readBookingRequest(body: Buffer, idempotencyKey: string, limits: Limits, rules: BookingFieldRules) {
  const fields = new Fields(parseJsonObject(body));
  const givenUserId = fields.string("userId", rules.userId);
  const eventId = fields.string("eventId", rules.eventId);
  const quantity = fields.integer("quantity", rules.quantity);
  const email = fields.email("email", rules.email);
  const powChallenge = fields.string("powChallenge", rules.powChallenge);
  const powSolution = fields.string("powSolution", rules.powSolution);
  fields.check(
    idempotencyKey.length <= limits.idempotencyKeyChars &&
      (idempotencyKey === "" || IDEMPOTENCY_KEY.test(idempotencyKey)),
    "Idempotency-Key",
    rules.idempotencyKeyReason,
  );
  fields.done();
  return {
    givenUserId,
    eventId: eventId!,
    quantity: quantity!,
    email: email ?? "",
    powChallenge: powChallenge ?? "",
    powSolution: powSolution ?? "",
    idempotencyKey,
  };
}

/** POST /bookings: one hold script call, after the body, the person and the anti-bot gate are checked. */
function createBookingRoute(deps: HttpDeps): RouteSpec {
  const { config, engine, readPool } = deps;
  const { limits } = config;
  const admission = new Admission(engine.redis, config.antiBot);
  const userTokens = new UserTokens(config.antiBot.userTokens, limits.userIdChars);
  const rules = bookingFieldRules(limits, userTokens.required);

  /** With signed identities on, the person booking is the token's (a body userId must match). */
  const personOf = async (authorization: string, eventId: string, given: string | undefined): Promise<string> => {
    const identity = await userTokens.identify(authorization);
    if (identity.eventId !== null && identity.eventId !== eventId)
      throw problems.userTokenMismatch("The token is for another event.");
    if (given !== undefined && given !== identity.userId)
      throw problems.userTokenMismatch("userId differs from the person the token names.");
    return identity.userId;
  };

  /**
   * Redis has no such event. If Redis has no live event at all it restarted empty, and an event
   * PostgreSQL has on sale is not the client's fault. Asked only then, so that unknown event ids
   * sent by the thousand cost no PostgreSQL query.
   */
  const explainMissing = async (error: unknown, eventId: string): Promise<never> => {
    if (
      !(error instanceof EngineError) ||
      error.code !== "EVENT_NOT_FOUND" ||
      (await engine.redis.scard(liveEventsKey)) > 0
    )
      throw error;
    if ((await selectEvent(readPool, eventId))?.status === "on_sale") throw problems.inventoryNotLoaded();
    throw error;
  };
  return {
    method: "post",
    pattern: "/bookings",
    name: "bookings.create",
    auth: "none",
    headers: ["idempotency-key", "content-type", "authorization"],
    clientIp: { trustProxy: config.antiBot.trustProxy },
    bodyLimit: limits.bodyBytes,
    async handler({ body, headers, clientIp }): Promise<Reply> {
      if (!headers["content-type"]!.startsWith("application/json"))
        throw problems.unsupportedMediaType("application/json");
      const { givenUserId, eventId, quantity, email, powChallenge, powSolution, idempotencyKey } = readBookingRequest(
        body,
        headers["idempotency-key"]!,
        limits,
        rules,
      );
      const userId = userTokens.required ? await personOf(headers.authorization!, eventId, givenUserId) : givenUserId!;
      const nowMs = Date.now();
      const gate = admission.gateOf({ eventId: eventId, clientIp, powChallenge, powSolution }, nowMs);
      let booking: Awaited<ReturnType<typeof engine.hold>>;
      try {
        booking = await engine.hold(
          // A verified token proves the person, so a 409 may name their open booking.
          {
            eventId: eventId,
            userId,
            quantity,
            email,
            idempotencyKey,
            gate,
            identityVerified: userTokens.required,
          },
          nowMs,
        );
      } catch (error) {
        return explainMissing(error, eventId);
      }
      // Added last, as a spread would (a spread costs microseconds per booking).
      const view = bookingView(booking, config.http.publicUrl, nowMs);
      view.token = booking.token;
      const headersOut: Record<string, string> = { Location: `/bookings/${booking.id}` };
      if (booking.kind === "replay") headersOut["Idempotent-Replayed"] = "true";
      return { status: booking.status === STATE.waiting ? 202 : 201, json: view, headers: headersOut };
    },
  };
}

export function bookingRoutes(deps: HttpDeps): RouteSpec[] {
  const { config, engine } = deps;
  return [
    createBookingRoute(deps),
    {
      method: "get",
      pattern: "/bookings/:id",
      name: "bookings.get",
      auth: "booking",
      handler({ booking }): Reply {
        return { status: 200, json: bookingView(booking!, config.http.publicUrl, Date.now()) };
      },
    },
    {
      method: "del",
      pattern: "/bookings/:id",
      name: "bookings.cancel",
      auth: "booking",
      async handler({ booking: opened }): Promise<Reply> {
        const booking = await engine.cancel(opened!.id, opened!.token);
        return { status: 200, json: { id: booking.id, status: booking.status } };
      },
    },
  ];
}
