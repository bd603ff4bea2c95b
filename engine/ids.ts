import { randomBytes } from "node:crypto";

// Random bytes come from a pool refilled in large blocks, so the hot path does not make a
// system call per id.
const POOL_BYTES = 64 * 1024;
let pool = randomBytes(POOL_BYTES);
let poolOffset = 0;

function take(count: number): Buffer {
  if (poolOffset + count > POOL_BYTES) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  const slice = pool.subarray(poolOffset, poolOffset + count);
  poolOffset += count;
  return slice;
}

/** A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids sort by time. */
export function uuidv7(nowMs: number = Date.now()): string {
  const bytes = Buffer.from(take(16));
  bytes.writeUIntBE(nowMs, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isUuid = (value: string): boolean => UUID_PATTERN.test(value);

/**
 * A booking token: the event id (so the booking's Redis slot can be found from the token
 * alone) and 256 random bits, which make it unguessable.
 */
export function newBookingToken(eventId: string): string {
  return `${eventId}.${take(32).toString("base64url")}`;
}

/** The event id inside a well-formed booking token, or null. */
export function eventIdOfToken(token: string): string | null {
  const dot = token.indexOf(".");
  if (dot !== 36 || token.length !== 36 + 1 + 43) return null;
  const eventId = token.slice(0, 36);
  return isUuid(eventId) ? eventId : null;
}
