// Domain errors. Lua scripts answer with a code; each code maps to one class here, and
// http/problems.ts maps each class to one problem type.

export type EngineErrorCode =
  | "EVENT_NOT_FOUND"
  | "BOOKING_NOT_FOUND"
  | "SALE_CLOSED"
  | "SOLD_OUT"
  | "PER_PERSON_LIMIT"
  | "OPEN_BOOKING_EXISTS"
  | "IDEMPOTENCY_MISMATCH"
  | "LINE_FULL"
  | "NOT_CANCELLABLE"
  | "CAPACITY_BELOW_SOLD"
  | "RATE_LIMITED"
  | "IP_BOOKING_LIMIT"
  | "POW_REQUIRED"
  | "POW_INVALID"
  | "POW_REUSED";

const MESSAGES: Record<EngineErrorCode, (detail: string) => string> = {
  EVENT_NOT_FOUND: () => "No such event is on sale.",
  BOOKING_NOT_FOUND: () => "No such booking, or the token does not match it.",
  SALE_CLOSED: () => "The sale for this event is closed.",
  SOLD_OUT: () => "Sold out: no tickets are left and none are held that could come back.",
  PER_PERSON_LIMIT: (d) => `That would pass the per-person ticket limit; ${Math.max(0, Number(d))} more allowed.`,
  OPEN_BOOKING_EXISTS: (d) => `This person already has an open booking${d === "" ? "" : ` (${d})`} for this event.`,
  IDEMPOTENCY_MISMATCH: (d) => `This Idempotency-Key was used for booking ${d} with a different quantity.`,
  LINE_FULL: (d) => `The waiting line is full (${d} people).`,
  NOT_CANCELLABLE: (d) => `Only waiting or held bookings can be cancelled; this one is ${d}.`,
  CAPACITY_BELOW_SOLD: (d) => `Capacity cannot go below the ${d} tickets already held or paid.`,
  RATE_LIMITED: (d) =>
    d.startsWith("ip:")
      ? "Too many booking requests from this address (RATE_IP_PER_S, RATE_IP_BURST); retry later."
      : "Too many booking requests for this userId (RATE_USER_PER_S, RATE_USER_BURST); retry later.",
  IP_BOOKING_LIMIT: () => "Too many bookings from this address for this event (IP_BOOKINGS_MAX); retry later.",
  POW_REQUIRED: (d) =>
    `This event asks for a proof-of-work of ${d} bits: GET /events/:id/challenge, solve it, send powChallenge and powSolution.`,
  POW_INVALID: () => "The proof-of-work is forged, expired, for another event, or does not solve its challenge.",
  POW_REUSED: () => "This proof-of-work challenge was already used; get a new one.",
};

export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    readonly detail: string,
  ) {
    super(MESSAGES[code](detail));
    this.name = "EngineError";
  }
}

export function isEngineErrorCode(code: string): code is EngineErrorCode {
  return Object.hasOwn(MESSAGES, code);
}
