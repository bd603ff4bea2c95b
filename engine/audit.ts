import type { Engine } from "./engine.js";
import { lastLogId } from "./eventLog.js";
import { bookingKey, eventKey, holdsKey, lineKey } from "./keys.js";
import { scanKeys } from "./redis.js";
import { BOOKING, EVENT, STATE } from "./schema.js";

// Recounts an event from its bookings; the tests and the benchmark use it to prove no oversell.

export interface Tally {
  instock: number;
  capacity: number;
  held: number;
  paid: number;
  waiting: number;
}

/** Recounts of a live event tried before the last one is judged as it stands. */
const SNAPSHOT_TRIES = 50;

/**
 * Recounts an event from its booking hashes, not from its counters, and checks
 * instock + Σ held + Σ paid == capacity, every term ≥ 0, the counters agreeing with the
 * recount, and the hold index and line naming exactly the held and waiting bookings.
 * The recount takes several reads, so it is a snapshot only if no script changed the event
 * meanwhile: every booking change appends to the event's log and every settings change
 * (a capacity PATCH) bumps its version, so a recount during which either moved is made again.
 */
export async function checkInvariant(engine: Engine, eventId: string): Promise<Tally> {
  const mark = async () => {
    const [last, version] = await Promise.all([
      lastLogId(engine.redis, eventId),
      engine.redis.hget(eventKey(eventId), EVENT.version),
    ]);
    return `${last ?? ""}|${version ?? ""}`;
  };
  for (let attempt = 1; ; attempt++) {
    const before = await mark();
    const recount = await recountEvent(engine, eventId);
    if (attempt === SNAPSHOT_TRIES || (await mark()) === before) return judge(eventId, recount);
  }
}

interface Recount {
  tally: Tally;
  event: Record<string, string>;
  heldIds: Set<string>;
  waitingIds: Set<string>;
  holds: Set<string>;
  line: Set<string>;
}

async function recountEvent(engine: Engine, eventId: string): Promise<Recount> {
  const redis = engine.redis;
  const event = await redis.hgetall(eventKey(eventId));
  const prefix = bookingKey(eventId, "");
  const keys = await bookingKeysOf(engine, eventId);
  const tally: Tally = { instock: Number(event[EVENT.instock]), capacity: Number(event[EVENT.capacity]), held: 0, paid: 0, waiting: 0 };
  const heldIds = new Set<string>();
  const waitingIds = new Set<string>();
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.hmget(key, BOOKING.state, BOOKING.qty);
  const fields = (await pipeline.exec()) ?? [];
  for (const [index, key] of keys.entries()) {
    const [state, qty] = fields[index]![1] as [string | null, string | null];
    const id = key.slice(prefix.length);
    if (state === STATE.held) {
      tally.held += Number(qty);
      heldIds.add(id);
    } else if (state === STATE.paid) tally.paid += Number(qty);
    else if (state === STATE.waiting) {
      tally.waiting += 1;
      waitingIds.add(id);
    }
  }
  const holds = new Set(await redis.zrange(holdsKey(eventId), 0, -1));
  const line = new Set(await redis.zrange(lineKey(eventId), 0, -1));
  return { tally, event, heldIds, waitingIds, holds, line };
}

function judge(eventId: string, { tally, event, heldIds, waitingIds, holds, line }: Recount): Tally {
  const problems: string[] = [];
  if (tally.instock < 0) problems.push(`instock ${tally.instock} < 0`);
  if (tally.instock + tally.held + tally.paid !== tally.capacity) {
    problems.push(`instock ${tally.instock} + held ${tally.held} + paid ${tally.paid} != capacity ${tally.capacity}`);
  }
  const counted = { held: event[EVENT.held], paid: event[EVENT.paid] };
  if (Number(counted.held) !== tally.held || Number(counted.paid) !== tally.paid) {
    problems.push(`counters held ${counted.held} paid ${counted.paid} disagree with bookings ${tally.held}/${tally.paid}`);
  }
  if (holds.size !== heldIds.size || [...heldIds].some((id) => !holds.has(id))) problems.push("hold index differs from held bookings");
  if (line.size !== waitingIds.size || [...waitingIds].some((id) => !line.has(id))) problems.push("line differs from waiting bookings");
  if (problems.length > 0) throw new Error(`invariant broken for event ${eventId}: ${problems.join("; ")}`);
  return tally;
}

/** Every booking hash of the event still in Redis (finished ones stay for the retention period). */
async function bookingKeysOf(engine: Engine, eventId: string): Promise<string[]> {
  return scanKeys(engine.redis, `${bookingKey(eventId, "").replace(/[{}]/g, "\\$&")}*`);
}

/** Ids of the event's bookings that are paid in Redis. */
export async function paidBookingIds(engine: Engine, eventId: string): Promise<Set<string>> {
  const keys = await bookingKeysOf(engine, eventId);
  const pipeline = engine.redis.pipeline();
  for (const key of keys) pipeline.hget(key, BOOKING.state);
  const states = (await pipeline.exec()) ?? [];
  const prefix = bookingKey(eventId, "");
  return new Set(keys.filter((_, i) => states[i]![1] === STATE.paid).map((key) => key.slice(prefix.length)));
}
