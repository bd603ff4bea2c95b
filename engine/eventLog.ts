import { logKey } from "./keys.js";
import type { RedisClient } from "./redis.js";

// The event's log stream log:{E}, which every booking change is appended to: where it ends
// and how its ids order. The relay, reconcile, the audit and the benchmark all ask.

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
