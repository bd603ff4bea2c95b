import { afterAll, describe, expect, inject, it, onTestFinished } from "vitest";
import { loadConfig } from "../engine/config.js";
import { Engine } from "../engine/engine.js";
import { eventKeys, ipBookingsKey, rateIpKey } from "../engine/keys.js";
import { connectRedis } from "../engine/redis.js";
import { dropEvent, loadScratchEvent } from "../testkit/fixtures.js";

// The hold script skips work it can prove is not needed: reclaiming before any hold can have
// ended, and everything after reading the event for a request nothing can serve. These tests
// fail when a skip is taken where the work was needed.

describe("what a hold skips", () => {
  const env = { REDIS_URL: inject("redisUrl"), DATABASE_URL: inject("databaseUrl"), LOG_LEVEL: "silent" };
  const redis = connectRedis(loadConfig(env).redis);
  afterAll(() => redis.quit());
  const engineHolding = (seconds: number) => new Engine(redis, loadConfig({ ...env, HOLD_SECONDS: String(seconds) }));

  async function scratch(capacity: number): Promise<string> {
    const event = await loadScratchEvent(engineHolding(600), capacity);
    onTestFinished(() => dropEvent(redis, event.id));
    return event.id;
  }

  it("reclaims a hold that ends before the holds granted ahead of it, once it has ended", async () => {
    const eventId = await scratch(2);
    const t0 = Date.now();
    const long = engineHolding(600);
    const short = engineHolding(1);
    await long.hold({ eventId, userId: "long", quantity: 1, email: "", idempotencyKey: "" }, t0);
    const ending = await short.hold({ eventId, userId: "short", quantity: 1, email: "", idempotencyKey: "" }, t0 + 1);
    expect(ending.status).toBe("held");
    // Both tickets are held, the short hold has ended: the next hold takes its ticket.
    const next = await long.hold({ eventId, userId: "next", quantity: 1, email: "", idempotencyKey: "" }, t0 + 5_000);
    expect(next.status).toBe("held");
    expect((await long.status(ending.id, ending.token)).status).toBe("expired");
  });

  it("refuses a sold-out request without charging the client's budget or writing anything", async () => {
    const eventId = await scratch(1);
    const engine = engineHolding(600);
    const gate = { clientIp: "198.51.100.7", proof: null, proofSent: false };
    const held = await engine.hold({ eventId, userId: "first", quantity: 1, email: "", idempotencyKey: "k1" });
    await redis.del(rateIpKey(eventId, gate.clientIp));
    const [, , , , log] = eventKeys(eventId);
    const logLength = await redis.xlen(log);

    // The ticket is held, so a request for two can never be served.
    await expect(
      engine.hold({ eventId, userId: "second", quantity: 2, email: "", idempotencyKey: "", gate }),
    ).rejects.toMatchObject({ code: "SOLD_OUT" });
    expect(await redis.exists(rateIpKey(eventId, gate.clientIp), ipBookingsKey(eventId, gate.clientIp))).toBe(0);
    expect(await redis.xlen(log)).toBe(logLength);

    // Nothing is left in stock, but an Idempotency-Key that names a booking is still answered for it.
    await expect(
      engine.hold({ eventId, userId: "first", quantity: 2, email: "", idempotencyKey: "k1", gate }),
    ).rejects.toMatchObject({ code: "IDEMPOTENCY_MISMATCH" });
    const replay = await engine.hold({ eventId, userId: "first", quantity: 1, email: "", idempotencyKey: "k1", gate });
    expect(replay).toMatchObject({ kind: "replay", id: held.id });
    // One ticket is still held: a request for one may yet be served, so it queues.
    const waiting = await engine.hold({ eventId, userId: "third", quantity: 1, email: "", idempotencyKey: "", gate });
    expect(waiting.status).toBe("waiting");
  });
});
