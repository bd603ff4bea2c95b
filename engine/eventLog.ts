import { logKey } from "./keys.js";
import type { RedisClient } from "./redis.js";
import { BOOKING_HASH, LOG_HEAD, isBookingState, type BookingState } from "./schema.js";

// The event's log stream log:{E}, which every booking change is appended to: where it ends,
// how its ids order, and what one entry says. The relay, the live channel, reconcile, the
// audit and the benchmark all ask.

/** The id of the log's newest entry; null when the event has logged nothing. */
export async function lastLogId(redis: RedisClient, eventId: string): Promise<string | null> {
  return (await redis.xrevrange(logKey(eventId), "+", "-", "COUNT", 1))[0]?.[0] ?? null;
}

/** Orders two stream ids (`<ms>-<seq>`; a missing seq counts as 0): negative, 0 or positive. */
export function compareStreamIds(a: string, b: string): number {
  const [aMs, aSeq = 0n] = a.split("-").map(BigInt) as [bigint, bigint?];
  const [bMs, bSeq = 0n] = b.split("-").map(BigInt) as [bigint, bigint?];
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  return aSeq === bSeq ? 0 : aSeq < bSeq ? -1 : 1;
}

/** One entry of log:{E} (lua/includes/booking.lua appendLog): the booking as it stood after a change. */
export interface LogEntry {
  streamId: string;
  /** What happened: the new state, or how the booking was created. */
  kind: string;
  bookingId: string;
  atMs: number;
  userId: string;
  quantity: number;
  status: BookingState;
  arrivalSeq: number;
  holdSeq: number;
  /** When the hold ends; 0 when not held. */
  expiresAtMs: number;
  amount: number;
  currency: string;
  email: string;
  paymentRef: string;
  reason: string;
  createdAtMs: number;
}

const L = LOG_HEAD;
const B = BOOKING_HASH;

/**
 * Decodes an entry as XRANGE / XREAD give it (flat name, value list); an entry naming no known
 * state is an error. The scripts leave out what this restores: empty fields, the kind when it
 * is the state, the creation time when it is the entry's time.
 */
export function decodeLogEntry(streamId: string, flat: readonly string[]): LogEntry {
  const f: Record<string, string | undefined> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
  const status = f[B.state.log];
  if (!isBookingState(status)) throw new Error(`log entry ${streamId} names no booking state: ${JSON.stringify(flat)}`);
  const atMs = Number(f[L.atMs] ?? 0);
  return {
    streamId,
    kind: f[L.kind] ?? status,
    bookingId: f[L.bookingId] ?? "",
    atMs,
    userId: f[B.user.log] ?? "",
    quantity: Number(f[B.qty.log] ?? 0),
    status,
    arrivalSeq: Number(f[B.seq.log] ?? 0),
    holdSeq: Number(f[B.hseq.log] ?? 0),
    expiresAtMs: Number(f[B.exp.log] ?? 0),
    amount: Number(f[B.amount.log] ?? 0),
    currency: f[B.currency.log] ?? "",
    email: f[B.email.log] ?? "",
    paymentRef: f[B.pay.log] ?? "",
    reason: f[B.reason.log] ?? "",
    createdAtMs: Number(f[B.created.log] ?? atMs),
  };
}

/** The booking an entry names, read without decoding the rest (an entry that cannot be decoded still names one). */
export function logEntryBookingId(flat: readonly string[]): string {
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] === L.bookingId) return flat[i + 1]!;
  return "";
}
