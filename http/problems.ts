import { EngineError, type EngineErrorCode } from "../engine/errors.js";
import { isRedisUnavailable } from "../engine/redis.js";
import { SearchQueryError } from "../search/query.js";

// Every 4xx/5xx answer is an RFC 9457 problem with a stable type, /problems/<slug>.

export interface FieldError {
  field: string;
  reason: string;
}

export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    detail: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = "Problem";
  }

  body(instance: string): Record<string, unknown> {
    return {
      type: `/problems/${this.slug}`,
      title: this.title,
      status: this.status,
      detail: this.message,
      instance,
      ...this.extra,
    };
  }
}

export const problems = {
  invalidJson: (detail: string) => new Problem(400, "invalid-json", "Body is not valid JSON", detail),
  badRequest: (detail: string) => new Problem(400, "bad-request", "Bad request", detail),
  invalidParameters: (errors: FieldError[]) =>
    new Problem(
      422,
      "invalid-parameters",
      "Invalid parameters",
      errors.map((e) => `${e.field}: ${e.reason}`).join("; "),
      {
        errors,
      },
    ),
  invalidQuery: (errors: FieldError[]) =>
    new Problem(
      400,
      "invalid-query",
      "Invalid query parameters",
      errors.map((e) => `${e.field}: ${e.reason}`).join("; "),
      {
        errors,
      },
    ),
  bodyTooLarge: (limitBytes: number) =>
    new Problem(
      413,
      "body-too-large",
      "Body too large",
      `Bodies are limited to ${limitBytes} bytes (MAX_BODY_BYTES).`,
      {
        limitBytes,
      },
    ),
  unsupportedMediaType: (expected: string) =>
    new Problem(415, "unsupported-media-type", "Unsupported media type", `Send the body as ${expected}.`),
  unauthorized: () =>
    new Problem(
      401,
      "unauthorized",
      "Unauthorized",
      "This route needs Authorization: Bearer <ADMIN_TOKEN>.",
      {},
      {
        "WWW-Authenticate": 'Bearer realm="admin"',
      },
    ),
  userTokenRequired: () =>
    new Problem(
      401,
      "user-token-required",
      "User token required",
      "Send Authorization: Bearer <token>, the signed token the ticketing site issued for this person.",
      {},
      {
        "WWW-Authenticate": 'Bearer realm="bookings"',
      },
    ),
  userTokenInvalid: (detail: string) =>
    new Problem(
      401,
      "user-token-invalid",
      "User token refused",
      detail,
      {},
      { "WWW-Authenticate": 'Bearer realm="bookings", error="invalid_token"' },
    ),
  userTokenMismatch: (detail: string) =>
    new Problem(403, "user-token-mismatch", "User token names someone or something else", detail),
  liveSocketsLimit: () =>
    new Problem(
      429,
      "live-sockets-limit",
      "Too many live connections",
      "At most LIVE_SOCKETS_PER_BOOKING live connections follow one booking, and LIVE_SOCKETS_PER_IP come from one address; close one, or poll GET /bookings/:id.",
      {},
      { "Retry-After": "10" },
    ),
  notFound: (what: string) => new Problem(404, "not-found", "Not found", what),
  invalidSignature: (detail: string) => new Problem(400, "invalid-signature", "Webhook signature rejected", detail),
  unavailable: (detail: string) =>
    new Problem(503, "unavailable", "Service unavailable", detail, {}, { "Retry-After": "5" }),
  inventoryNotLoaded: () =>
    new Problem(
      503,
      "inventory-not-loaded",
      "Inventory not loaded",
      "The event is on sale, but its live inventory is not loaded (Redis restarted empty); an operator reloads it with `onsale cache warm`.",
      {},
      { "Retry-After": "30" },
    ),
  internal: () =>
    new Problem(500, "internal", "Internal error", "The request failed inside the engine; it has been logged."),
};

const ENGINE_PROBLEMS: Record<EngineErrorCode, [status: number, slug: string, title: string]> = {
  EVENT_NOT_FOUND: [404, "event-not-found", "Event not found"],
  BOOKING_NOT_FOUND: [404, "booking-not-found", "Booking not found"],
  SALE_CLOSED: [409, "sale-closed", "Sale closed"],
  SOLD_OUT: [409, "sold-out", "Sold out"],
  PER_PERSON_LIMIT: [409, "per-person-limit", "Per-person ticket limit reached"],
  OPEN_BOOKING_EXISTS: [409, "open-booking-exists", "An open booking exists"],
  IDEMPOTENCY_MISMATCH: [422, "idempotency-mismatch", "Idempotency-Key reused with other parameters"],
  LINE_FULL: [409, "line-full", "Waiting line full"],
  NOT_CANCELLABLE: [409, "not-cancellable", "Booking cannot be cancelled"],
  CAPACITY_BELOW_SOLD: [422, "capacity-below-sold", "Capacity below tickets sold"],
  RATE_LIMITED: [429, "rate-limited", "Too many requests"],
  IP_BOOKING_LIMIT: [429, "too-many-bookings-from-address", "Too many bookings from this address"],
  POW_REQUIRED: [403, "proof-of-work-required", "Proof-of-work required"],
  POW_INVALID: [403, "proof-of-work-invalid", "Proof-of-work invalid"],
  POW_REUSED: [403, "proof-of-work-reused", "Proof-of-work already used"],
};

const ENGINE_EXTRA: Partial<Record<EngineErrorCode, (detail: string) => Record<string, unknown>>> = {
  PER_PERSON_LIMIT: (d) => ({ remaining: Math.max(0, Number(d)) }),
  // Named only to a verified identity (the engine gives '' otherwise).
  OPEN_BOOKING_EXISTS: (d) => (d === "" ? {} : { bookingId: d }),
  RATE_LIMITED: (d) => ({ limit: d.split(":")[0] === "ip" ? "RATE_IP_PER_S" : "RATE_USER_PER_S" }),
  IP_BOOKING_LIMIT: () => ({ limit: "IP_BOOKINGS_MAX" }),
  POW_REQUIRED: (d) => ({ difficultyBits: Number(d) }),
};

const ENGINE_HEADERS: Partial<Record<EngineErrorCode, (detail: string) => Record<string, string>>> = {
  RATE_LIMITED: (d) => ({ "Retry-After": String(Math.max(1, Math.ceil(Number(d.split(":")[1]) / 1000))) }),
  IP_BOOKING_LIMIT: (d) => ({ "Retry-After": String(Math.max(1, Math.ceil(Number(d) / 1000))) }),
};

export function toProblem(error: unknown): Problem | null {
  if (error instanceof Problem) return error;
  if (error instanceof SearchQueryError) return problems.invalidQuery(error.errors);
  // Reported once by the connection's log lines (engine/redis.ts), not per request.
  if (isRedisUnavailable(error))
    return problems.unavailable("Live inventory (Redis) is not answering; try again shortly.");
  if (error instanceof EngineError) {
    const [status, slug, title] = ENGINE_PROBLEMS[error.code];
    return new Problem(
      status,
      slug,
      title,
      error.message,
      ENGINE_EXTRA[error.code]?.(error.detail) ?? {},
      ENGINE_HEADERS[error.code]?.(error.detail) ?? {},
    );
  }
  return null;
}
