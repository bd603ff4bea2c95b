import type { RedisClient } from "../engine/redis.js";
import type { Engine } from "../engine/engine.js";
import { bookingKey, eventKeys } from "../engine/keys.js";
import { dropEvent, loadScratchEvent } from "../testkit/fixtures.js";

// Redis memory per waiting person, from MEMORY USAGE of the event's keys (exact for this
// event, unlike INFO memory which other databases on the same server move), and the
// INFO used_memory delta for comparison.

export interface WaitingMemory {
  waiting: number;
  bytesPerWaiting: number;
  /** Where those bytes are: booking hash, line entry, open-booking entry (the person's in people:{E}), log entry. */
  perKeyBytes: { bookingHash: number; line: number; open: number; log: number };
  infoDeltaBytesPerWaiting: number;
}

const SAMPLE_HASHES = 200;
const HOLDS_IN_FLIGHT = 200;

async function usage(redis: RedisClient, key: string): Promise<number> {
  return Number((await redis.call("MEMORY", "USAGE", key, "SAMPLES", "0")) ?? 0);
}

async function usedMemory(redis: RedisClient): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info("memory"))![1]);
}

/** One ticket, held; then `waiting` people join the line behind it. */
export async function measureWaitingMemory(
  engine: Engine,
  waiting: number,
  onProgress?: (queued: number) => void,
): Promise<WaitingMemory> {
  const redis = engine.redis;
  const event = await loadScratchEvent(engine, 1);
  const [, line, , people, log] = eventKeys(event.id);
  try {
    await engine.hold({ eventId: event.id, userId: "mem-holder", quantity: 1, email: "", idempotencyKey: "" });
    const before = {
      line: await usage(redis, line),
      open: await usage(redis, people),
      log: await usage(redis, log),
      info: await usedMemory(redis),
    };
    const ids: string[] = [];
    for (let start = 0; start < waiting; start += HOLDS_IN_FLIGHT) {
      const batch = Array.from({ length: Math.min(HOLDS_IN_FLIGHT, waiting - start) }, (_, i) =>
        engine.hold({ eventId: event.id, userId: `mem-${start + i}`, quantity: 1, email: "", idempotencyKey: "" }),
      );
      for (const booking of await Promise.all(batch)) ids.push(booking.id);
      onProgress?.(ids.length);
    }
    const after = {
      line: await usage(redis, line),
      open: await usage(redis, people),
      log: await usage(redis, log),
      info: await usedMemory(redis),
    };
    const sample = ids.filter((_, i) => i % Math.max(1, Math.floor(ids.length / SAMPLE_HASHES)) === 0);
    let sampleBytes = 0;
    for (const id of sample) sampleBytes += await usage(redis, bookingKey(event.id, id));
    const perKeyBytes = {
      bookingHash: Math.round(sampleBytes / sample.length),
      line: Math.round((after.line - before.line) / waiting),
      open: Math.round((after.open - before.open) / waiting),
      log: Math.round((after.log - before.log) / waiting),
    };
    return {
      waiting,
      bytesPerWaiting: perKeyBytes.bookingHash + perKeyBytes.line + perKeyBytes.open + perKeyBytes.log,
      perKeyBytes,
      infoDeltaBytesPerWaiting: Math.round((after.info - before.info) / waiting),
    };
  } finally {
    await dropEvent(redis, event.id);
  }
}
