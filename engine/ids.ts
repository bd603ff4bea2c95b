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
 * alone), a dot, and a secret of 256 random bits, which makes it unguessable. Redis keeps
 * only the secret: 43 characters instead of 80 keep the booking hash under the size Redis
 * stores compactly (listpack, 64-byte values), which more than halves its memory.
 */
export function newBookingSecret(): string {
  return take(32).toString("base64url");
}

export function bookingToken(eventId: string, secret: string): string {
  return `${eventId}.${secret}`;
}

/** The event id and secret of a well-formed booking token, or null. */
export function parseBookingToken(token: string): { eventId: string; secret: string } | null {
  const dot = token.indexOf(".");
  if (dot !== 36 || token.length !== 36 + 1 + 43) return null;
  const eventId = token.slice(0, 36);
  return isUuid(eventId) ? { eventId, secret: token.slice(37) } : null;
}

/** The event id inside a well-formed booking token, or null. */
export function eventIdOfToken(token: string): string | null {
  return parseBookingToken(token)?.eventId ?? null;
}
