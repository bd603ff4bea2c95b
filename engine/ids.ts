import { randomBytes } from "node:crypto";

// Random bytes come from a pool refilled in large blocks, so the hot path does not make a
// system call per id.
const POOL_BYTES = 64 * 1024;
let pool = randomBytes(POOL_BYTES);
let poolOffset = 0;

/** Where `count` fresh random bytes start in `pool`. */
function take(count: number): number {
  if (poolOffset + count > POOL_BYTES) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  poolOffset += count;
  return poolOffset - count;
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));
const UUIDV7_MS_MAX = 2 ** 48;
/** The last millisecond an id was made in, and its first 14 characters. */
let prefixMs = -1;
let prefix = "";

/** A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids sort by time. */
export function uuidv7(nowMs: number = Date.now()): string {
  if (!(Number.isSafeInteger(nowMs) && nowMs >= 0 && nowMs < UUIDV7_MS_MAX))
    throw new RangeError(`uuidv7 takes whole milliseconds from 0 to 2^48, got ${nowMs}`);
  // Built from hex pairs, not a Buffer: ids are made once per booking request. The time part
  // is the same for every id of one millisecond, so it is written out once per millisecond.
  if (nowMs !== prefixMs) {
    const ms = nowMs.toString(16).padStart(12, "0");
    prefix = `${ms.slice(0, 8)}-${ms.slice(8)}-`;
    prefixMs = nowMs;
  }
  const at = take(10);
  const p = pool;
  return (
    `${prefix}${HEX[(p[at]! & 0x0f) | 0x70]}${HEX[p[at + 1]!]}-` +
    `${HEX[(p[at + 2]! & 0x3f) | 0x80]}${HEX[p[at + 3]!]}-${HEX[p[at + 4]!]}${HEX[p[at + 5]!]}` +
    `${HEX[p[at + 6]!]}${HEX[p[at + 7]!]}${HEX[p[at + 8]!]}${HEX[p[at + 9]!]}`
  );
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
  const at = take(32);
  return pool.toString("base64url", at, at + 32);
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
