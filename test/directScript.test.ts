import { afterAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../engine/config.js";
import { Engine } from "../engine/engine.js";
import { bookingKey } from "../engine/keys.js";
import { connectRedis } from "../engine/redis.js";
import { BOOKING } from "../engine/schema.js";
import { dropEvent, scratchEvent } from "../testkit/fixtures.js";

// Holds go to Redis as EVALSHA straight on the connection (engine/scripts.ts directScript):
// a Redis that lost its scripts (restarted, flushed) must still take them.

const config = loadConfig({
  REDIS_URL: inject("redisUrl"),
  REDIS_CLUSTER_NODES: process.env.REDIS_CLUSTER_NODES ?? "",
});
const redis = connectRedis(config.redis, { enableAutoPipelining: true });
const engine = new Engine(redis, config);
afterAll(() => redis.disconnect());

describe("holds sent straight on the connection", () => {
  it("hold in one turn of the event loop, and again after Redis forgot its scripts", async () => {
    const event = scratchEvent(10);
    await engine.loadEvent(event, 0);
    try {
      const hold = (userId: string) =>
        engine.hold({ eventId: event.id, userId, quantity: 1, email: "", idempotencyKey: "" });
      const together = await Promise.all(["a", "b", "c"].map(hold));
      expect(together.map((booking) => booking.kind)).toEqual(["held", "held", "held"]);
      await redis.script("FLUSH");
      expect((await hold("d")).kind).toBe("held");
      expect((await engine.liveEvent(event.id))?.held).toBe(4);
    } finally {
      await dropEvent(redis, event.id);
    }
  });

  it("counts the bytes, not the characters, of an argument that is not ASCII", async () => {
    const event = scratchEvent(10);
    await engine.loadEvent(event, 0);
    try {
      const email = "zoë@exämple.org";
      const held = await engine.hold({ eventId: event.id, userId: "zoe", quantity: 1, email, idempotencyKey: "" });
      expect(held.kind).toBe("held");
      expect(await redis.hget(bookingKey(event.id, held.id), BOOKING.email)).toBe(email);
    } finally {
      await dropEvent(redis, event.id);
    }
  });
});
