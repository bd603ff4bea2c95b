import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { uuidv7 } from "./ids.js";

// Hashcash-style proof-of-work. The server issues a stateless challenge naming the event,
// the difficulty and an expiry, signed with POW_SECRET; the client finds a solution such
// that SHA-256("<challenge>:<solution>") starts with `bits` zero bits. The signature makes
// challenges unforgeable; the hold script's gate makes each one single-use (its nonce).

export interface Challenge {
  challenge: string;
  eventId: string;
  bits: number;
  expiresAtMs: number;
  nonce: string;
}

/** Longest solution string accepted, in characters. */
export const POW_SOLUTION_CHARS = 64;
const VERSION = "p1";

function sign(secret: string, text: string): string {
  return createHmac("sha256", secret).update(text).digest("base64url");
}

export function issueChallenge(
  secret: string,
  eventId: string,
  bits: number,
  ttlMs: number,
  nowMs = Date.now(),
): Challenge {
  const nonce = uuidv7(nowMs).replace(/-/g, "");
  const expiresAtMs = nowMs + ttlMs;
  const text = `${VERSION}.${eventId}.${bits}.${expiresAtMs}.${nonce}`;
  return { challenge: `${text}.${sign(secret, text)}`, eventId, bits, expiresAtMs, nonce };
}

/** When a challenge was issued: its nonce is a UUIDv7, whose first 48 bits are that time in ms. */
function issuedAtMsOf(nonce: string): number {
  return /^[0-9a-f]{32}$/.test(nonce) ? parseInt(nonce.slice(0, 12), 16) : NaN;
}

/**
 * The challenge if it is ours, for this event and not expired; null otherwise. Its expiry
 * counts only up to ttlMs from its issue, so one minted with a far expiry dies as ours do.
 */
export function readChallenge(
  secret: string,
  challenge: string,
  eventId: string,
  ttlMs: number,
  nowMs = Date.now(),
): Challenge | null {
  const parts = challenge.split(".");
  if (parts.length !== 6 || parts[0] !== VERSION) return null;
  const [, forEvent, bitsText, expiresText, nonce, mac] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(sign(secret, parts.slice(0, 5).join(".")));
  const given = Buffer.from(mac);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  const bits = Number(bitsText);
  const expiresAtMs = Number(expiresText);
  if (forEvent !== eventId || expiresAtMs <= nowMs) return null;
  const issuedAtMs = issuedAtMsOf(nonce);
  if (!(issuedAtMs <= nowMs && expiresAtMs - issuedAtMs <= ttlMs)) return null;
  return { challenge, eventId, bits, expiresAtMs, nonce };
}

export function leadingZeroBits(digest: Buffer): number {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

export function solves(challenge: string, solution: string, bits: number): boolean {
  return leadingZeroBits(createHash("sha256").update(`${challenge}:${solution}`).digest()) >= bits;
}

/** The brute-force search a client runs (the page does the same with WebCrypto); for tests and tools. */
export function solve(challenge: string, bits: number, maxTries = 1 << 30): string {
  for (let n = 0; n < maxTries; n++) if (solves(challenge, String(n), bits)) return String(n);
  throw new Error(`no solution in ${maxTries} tries`);
}
