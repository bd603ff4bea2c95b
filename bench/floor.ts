import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import type { RedisClient } from "../engine/redis.js";

// The minimal hold script (floor.lua) and its keys, all tagged {eventId} like the engine's.
// Run from the same load threads as the Redis ceiling, it is what a hold costs Redis at least.

const FLOOR_LUA = readFileSync(new URL("./floor.lua", import.meta.url), "utf8");
const SCAN_COUNT = 5000;

const prefix = (eventId: string) => `benchfloor:{${eventId}}:`;

export interface FloorClient extends Redis {
  benchFloor(
    stock: string,
    booking: string,
    expiries: string,
    log: string,
    bookingId: string,
    userId: string,
    quantity: number,
    expiresAtMs: number,
  ): Promise<string>;
}

export function defineFloor(redis: Redis): FloorClient {
  redis.defineCommand("benchFloor", { numberOfKeys: 4, lua: FLOOR_LUA });
  return redis as FloorClient;
}

/** One floor hold for person n. */
export function floorHold(
  redis: FloorClient,
  eventId: string,
  userId: string,
  quantity: number,
  holdMs: number,
): Promise<string> {
  const p = prefix(eventId);
  return redis.benchFloor(
    `${p}stock`,
    `${p}b:${userId}`,
    `${p}expiries`,
    `${p}log`,
    userId,
    userId,
    quantity,
    Date.now() + holdMs,
  );
}

export async function prepareFloor(redis: RedisClient, eventId: string, tickets: number): Promise<void> {
  await redis.hset(`${prefix(eventId)}stock`, "instock", tickets);
}

export async function dropFloor(redis: RedisClient, eventId: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix(eventId)}*`, "COUNT", SCAN_COUNT);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
}
