import { describe, expect, it } from "vitest";
import { Engine } from "../engine/engine.js";
import { metrics } from "../engine/metrics.js";
import { connectRedis } from "../engine/redis.js";
import { selectEvent } from "../sql/events.js";
import { ADMIN_TOKEN, checkInvariant, completedEvent, sleep, useTestEngine } from "./helpers.js";

// A process that heard SOLD_OUT from Redis refuses the same or more tickets itself for
// SOLD_OUT_MEMO_MS: no Redis call, a replay still finds its booking, and stock that comes
// back is seen at once when the change went through this process, after the memo otherwise.

const MEMO_MS = 1500;
const ctx = useTestEngine({ SOLD_OUT_MEMO_MS: String(MEMO_MS) });

/** Hold script calls this process has made. */
async function holdCalls(): Promise<number> {
  const { values } = await metrics.scriptSeconds.get();
  return values.find((v) => v.metricName?.endsWith("_count") && v.labels.script === "hold")?.value ?? 0;
}

/** An event of `capacity` tickets, all paid by one person, and a refusal that put it in the memo. */
async function soldOutEvent(capacity: number, holder: Record<string, string> = {}) {
  const eventId = await ctx.client.eventId({ capacity, maxPerUser: capacity });
  const held = await ctx.client.book(eventId, "memo-holder", capacity, holder);
  expect(held.status).toBe(201);
  expect((await ctx.client.webhook(completedEvent({ id: held.body.id, eventId }, held.body.amount))).status).toBe(200);
  const refused = await ctx.client.book(eventId, "memo-first-refused", 1);
  expect(refused.body.type).toBe("/problems/sold-out");
  return { eventId, held };
}

describe("the sold-out memo", () => {
  it("refuses the same answer without a Redis call, and asks Redis again for fewer tickets", async () => {
    const { eventId } = await soldOutEvent(2);
    const callsBefore = await holdCalls();
    const again = await ctx.client.book(eventId, "memo-second", 2);
    expect(again.status).toBe(409);
    expect(again.contentType).toBe("application/problem+json");
    expect(again.body).toEqual({
      type: "/problems/sold-out",
      title: "Sold out",
      status: 409,
      detail: "Sold out: no tickets are left and none are held that could come back.",
      instance: "/bookings",
    });
    expect(await holdCalls()).toBe(callsBefore);
    await checkInvariant(ctx.running.engine, eventId);
  });

  it("lets a request with an Idempotency-Key through: a replay still gets its booking", async () => {
    const { eventId, held } = await soldOutEvent(1, { "Idempotency-Key": "memo-key" });
    const replay = await ctx.client.book(eventId, "memo-holder", 1, { "Idempotency-Key": "memo-key" });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body).toMatchObject({ id: held.body.id, status: "paid" });
  });

  it("sees a capacity raised through this process at once", async () => {
    const { eventId } = await soldOutEvent(1);
    const patched = await ctx.client.request("PATCH", `/admin/events/${eventId}`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      body: { capacity: 2 },
    });
    expect(patched.status).toBe(200);
    expect((await ctx.client.book(eventId, "memo-after-raise", 1)).status).toBe(201);
    await checkInvariant(ctx.running.engine, eventId);
  });

  it("sees a capacity raised by another process once SOLD_OUT_MEMO_MS has passed", async () => {
    const { eventId } = await soldOutEvent(1);
    // Another process (an admin request on another HTTP worker) raises the capacity.
    const { config, pool } = ctx.running;
    const other = new Engine(connectRedis(config.redis), config);
    try {
      const event = (await selectEvent(pool, eventId))!;
      await other.loadEvent({ ...event, capacity: 2 }, 0);
    } finally {
      other.redis.disconnect();
    }
    const stale = await ctx.client.book(eventId, "memo-stale", 1);
    expect(stale.body.type).toBe("/problems/sold-out");
    await sleep(MEMO_MS);
    expect((await ctx.client.book(eventId, "memo-fresh", 1)).status).toBe(201);
    await checkInvariant(ctx.running.engine, eventId);
  });
});
