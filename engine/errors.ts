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
  | "CAPACITY_BELOW_SOLD";

const MESSAGES: Record<EngineErrorCode, (detail: string) => string> = {
  EVENT_NOT_FOUND: () => "No such event is on sale.",
  BOOKING_NOT_FOUND: () => "No such booking, or the token does not match it.",
  SALE_CLOSED: () => "The sale for this event is closed.",
  SOLD_OUT: () => "Sold out: no tickets are left and none are held that could come back.",
  PER_PERSON_LIMIT: (d) => `That would pass the per-person ticket limit; ${Math.max(0, Number(d))} more allowed.`,
  OPEN_BOOKING_EXISTS: (d) => `This person already has an open booking (${d}) for this event.`,
  IDEMPOTENCY_MISMATCH: (d) => `This Idempotency-Key was used for booking ${d} with a different quantity.`,
  LINE_FULL: (d) => `The waiting line is full (${d} people).`,
  NOT_CANCELLABLE: (d) => `Only waiting or held bookings can be cancelled; this one is ${d}.`,
  CAPACITY_BELOW_SOLD: (d) => `Capacity cannot go below the ${d} tickets already held or paid.`,
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
