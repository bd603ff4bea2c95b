import { Admission } from "../../engine/admission.js";
import { POW_SOLUTION_CHARS } from "../../engine/pow.js";
import { bookingView } from "../bookingView.js";
import type { Reply, RouteSpec } from "../exchange.js";
import { problems } from "../problems.js";
import type { HttpDeps } from "../deps.js";
import { Fields, parseJsonObject } from "../validate.js";

// POST /bookings, GET /bookings/:id, DELETE /bookings/:id.

const USER_ID = /^[A-Za-z0-9._@+|-]+$/;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]+$/;

export function bookingRoutes(deps: HttpDeps): RouteSpec[] {
  const { config, engine } = deps;
  const { limits } = config;
  const admission = new Admission(engine.redis, config.antiBot);
  return [
    {
      method: "post",
      pattern: "/bookings",
      name: "bookings.create",
      auth: "none",
      headers: ["idempotency-key", "content-type"],
      clientIp: { trustProxy: config.antiBot.trustProxy },
      bodyLimit: limits.bodyBytes,
      async handler({ body, headers, clientIp }): Promise<Reply> {
        if (!headers["content-type"]!.startsWith("application/json")) throw problems.unsupportedMediaType("application/json");
        const fields = new Fields(parseJsonObject(body));
        const userId = fields.string("userId", { required: true, maxChars: limits.userIdChars, pattern: USER_ID, patternHint: "may hold letters, digits and . _ @ + | -" });
        const eventId = fields.string("eventId", { required: true, maxChars: 36, pattern: /^[0-9a-f-]{36}$/, patternHint: "must be an event id (a lower-case UUID)" });
        const quantity = fields.integer("quantity", { required: true, min: 1, max: limits.quantityMax });
        const email = fields.email("email", { required: false, maxChars: limits.emailChars });
        const powChallenge = fields.string("powChallenge", { required: false, maxChars: 256 });
        const powSolution = fields.string("powSolution", { required: false, maxChars: POW_SOLUTION_CHARS });
        const idempotencyKey = headers["idempotency-key"]!;
        fields.check(idempotencyKey.length <= limits.idempotencyKeyChars && (idempotencyKey === "" || IDEMPOTENCY_KEY.test(idempotencyKey)), "Idempotency-Key", `must be 1 to ${limits.idempotencyKeyChars} printable ASCII characters`);
        fields.done();
        const nowMs = Date.now();
        const gate = admission.gateOf({ eventId: eventId!, clientIp, powChallenge: powChallenge ?? "", powSolution: powSolution ?? "" }, nowMs);
        const booking = await engine.hold({ eventId: eventId!, userId: userId!, quantity: quantity!, email: email ?? "", idempotencyKey, gate }, nowMs);
        const view = { ...bookingView(booking, config.http.publicUrl, nowMs), token: booking.token };
        const headersOut: Record<string, string> = { Location: `/bookings/${booking.id}` };
        if (booking.kind === "replay") headersOut["Idempotent-Replayed"] = "true";
        return { status: booking.status === "waiting" ? 202 : 201, json: view, headers: headersOut };
      },
    },
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
