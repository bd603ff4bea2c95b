import { EngineError } from "../engine/errors.js";
import { isUuid } from "../engine/ids.js";

// Ids taken from the path. A malformed id names nothing, so it is a 404 like an unknown one.

export function eventIdParam(raw: string | undefined): string {
  if (raw === undefined || !isUuid(raw)) throw new EngineError("EVENT_NOT_FOUND", "");
  return raw;
}

export function bookingIdParam(raw: string | undefined): string {
  if (raw === undefined || !isUuid(raw)) throw new EngineError("BOOKING_NOT_FOUND", "");
  return raw;
}
