import type { Gate } from "../engine/admission.js";
import type { HoldInput, ScriptSettings } from "../engine/commands.js";
import type { Engine, EventRecord } from "../engine/engine.js";
import { uuidv7 } from "../engine/ids.js";
import { eventKeys, liveEventsKey } from "../engine/keys.js";
import type { RedisClient } from "../engine/redis.js";

// Events the tests and benchmarks make: through POST /admin/events like an operator, or
// straight into Redis (a scratch event, never written to PostgreSQL) for measurements.

/** The fields of a valid POST /admin/events body; callers override what they test. */
export function eventFields(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "Test Tour",
    venue: "Test Arena",
    startsAt: "2027-06-01T20:00:00+02:00",
    timeZone: "Europe/Paris",
    capacity: 10,
    price: 5000,
    currency: "EUR",
    maxPerUser: 4,
    ...fields,
  };
}

/** Creates an event through the admin API; returns its id, or throws with the answer. */
export async function createEventOver(
  baseUrl: string,
  adminToken: string,
  fields: Record<string, unknown> = {},
): Promise<string> {
  const response = await fetch(`${baseUrl}/admin/events`, {
    method: "POST",
    headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
    body: JSON.stringify(eventFields(fields)),
  });
  const body = (await response.json()) as { id?: string };
  if (response.status !== 201 || body.id === undefined)
    throw new Error(`event not created: ${response.status} ${JSON.stringify(body)}`);
  return body.id;
}

/** A Redis-only event (never written to PostgreSQL, so no relay), for measurements. */
export function scratchEvent(capacity: number): EventRecord {
  return {
    id: uuidv7(),
    name: "bench scratch",
    venue: "bench",
    startsAt: new Date(Date.now() + 86_400_000),
    timeZone: "UTC",
    capacity,
    price: 5000,
    currency: "eur",
    maxPerUser: 4,
    saleStartsAt: null,
    saleEndsAt: null,
    status: "on_sale",
    version: 1,
    powBits: 0,
    holdSeconds: 0,
  };
}

/** Puts a scratch event into Redis through the engine, as a cache warm would. */
export async function loadScratchEvent(engine: Engine, capacity: number): Promise<EventRecord> {
  const event = scratchEvent(capacity);
  await engine.loadEvent(event, 0);
  return event;
}

const SCAN_COUNT = 5000;

/** Deletes every key of an event: its own keys, and every key under its prefixes. */
export async function dropEvent(redis: RedisClient, eventId: string): Promise<void> {
  const keys = eventKeys(eventId);
  // Keys ending in ":" are prefixes (booking:{E}:<id>, idem:{E}:<key>, ...).
  const prefixes = keys.filter((key) => key.endsWith(":"));
  await redis.unlink(...keys.filter((key) => !key.endsWith(":")));
  await redis.srem(liveEventsKey, eventId);
  for (const prefix of prefixes) {
    let cursor = "0";
    do {
      const [next, batch] = await redis.scan(
        cursor,
        "MATCH",
        `${prefix.replace(/[{}]/g, "\\$&")}*`,
        "COUNT",
        SCAN_COUNT,
      );
      if (batch.length > 0) await redis.unlink(...batch);
      cursor = next;
    } while (cursor !== "0");
  }
}

/** Script settings of distinct values, so a test can tell which ARGV slot each one went to. */
export const SCRIPT_SETTINGS: ScriptSettings = {
  holdMs: 1,
  idempotencyTtlMs: 2,
  reclaimMax: 3,
  serveMax: 4,
  lineMax: 5,
  retentionMs: 6,
  rateIpPerS: 7,
  rateIpBurst: 8,
  rateUserPerS: 9,
  rateUserBurst: 10,
  unpaidRetentionMs: 11,
  ipBookingsMax: 12,
};

/** The event the script-builder tests build arguments for. */
export const SCRIPT_EVENT_ID = "0190d7a0-0000-7000-8000-000000000001";

/** A hold request for the script-builder tests, with the gate given. */
export function scriptHoldInput(gate: Gate | undefined): HoldInput {
  return {
    bookingId: "b",
    secret: "s",
    userId: "u",
    quantity: 1,
    email: "",
    idempotencyKey: "",
    identityVerified: true,
    gate,
  };
}
