import { describe, expect, it } from "vitest";
import { logKey } from "../engine/keys.js";
import { checkInvariant, completedEvent, sleep, useTestEngine } from "./helpers.js";

// The webhook is the only proof of payment: replays, duplicates, forgeries and late payments.

const ctx = useTestEngine({ HOLD_SECONDS: "1" });

async function paymentRows(bookingId: string) {
  const { rows } = await ctx.running.pool.query("SELECT provider_event_id, status FROM payments WHERE booking_id = $1 ORDER BY created_at", [bookingId]);
  return rows;
}

describe("webhooks", () => {
  it("applies a payment once: a replayed event and a duplicate for the same session change nothing", async () => {
    const eventId = await ctx.client.eventId({ capacity: 4 });
    const held = await ctx.client.book(eventId, "dup-payer", 2);
    const event = completedEvent({ id: held.body.id, eventId }, 10000);
    const first = await ctx.client.webhook(event);
    expect(first).toMatchObject({ status: 200, body: { outcome: "paid" } });
    const replay = await ctx.client.webhook(event);
    expect(replay).toMatchObject({ status: 200, body: { outcome: "replayed" } });
    const duplicate = await ctx.client.webhook({ ...event, id: `${event.id}_again` });
    expect(duplicate.body.outcome).toBe("duplicate");
    expect(await checkInvariant(ctx.running.engine, eventId)).toMatchObject({ paid: 2, instock: 2 });
    expect(await paymentRows(held.body.id)).toEqual([
      { provider_event_id: event.id, status: "applied" },
      { provider_event_id: `${event.id}_again`, status: "duplicate" },
    ]);

    await ctx.running.relay.pass();
    const { rows } = await ctx.running.pool.query("SELECT count(*)::int AS n FROM bookings WHERE id = $1 AND status = 'paid'", [held.body.id]);
    expect(rows[0].n).toBe(1);
  });

  it("rejects a bad signature with 400 problem+json and changes nothing", async () => {
    const eventId = await ctx.client.eventId();
    const held = await ctx.client.book(eventId, "forger", 1);
    const logLength = await ctx.running.engine.redis.xlen(logKey(eventId));
    const forged = await ctx.client.webhook(completedEvent({ id: held.body.id, eventId }, 5000), "whsec_wrong");
    expect(forged.status).toBe(400);
    expect(forged.contentType).toBe("application/problem+json");
    expect(forged.body.type).toMatch(/invalid-signature$/);
    const unsigned = await ctx.client.request("POST", "/webhooks/stripe", { body: completedEvent({ id: held.body.id, eventId }, 5000) });
    expect(unsigned.status).toBe(400);
    expect((await ctx.client.get(held.body.id, held.body.token)).body.status).toBe("held");
    expect(await ctx.running.engine.redis.xlen(logKey(eventId))).toBe(logLength);
    expect(await paymentRows(held.body.id)).toEqual([]);
  });

  it("answers 404 problem+json for a provider this engine does not run, and records nothing", async () => {
    const eventId = await ctx.client.eventId();
    const held = await ctx.client.book(eventId, "elsewhere", 1);
    const answer = await ctx.client.request("POST", "/webhooks/paypal", { body: completedEvent({ id: held.body.id, eventId }, 5000) });
    expect(answer.status).toBe(404);
    expect(answer.contentType).toBe("application/problem+json");
    expect(answer.body.type).toMatch(/not-found$/);
    expect(await paymentRows(held.body.id)).toEqual([]);
  });

  it("refuses a payment whose amount differs from the booking's", async () => {
    const eventId = await ctx.client.eventId();
    const held = await ctx.client.book(eventId, "underpayer", 2);
    const answer = await ctx.client.webhook(completedEvent({ id: held.body.id, eventId }, 1));
    expect(answer.body.outcome).toBe("mismatch");
    expect((await ctx.client.get(held.body.id, held.body.token)).body.status).toBe("held");
    expect(await paymentRows(held.body.id)).toMatchObject([{ status: "mismatch" }]);
  });

  it("takes stock again for a payment that lands after its hold expired, when stock is left", async () => {
    const eventId = await ctx.client.eventId({ capacity: 3 });
    const held = await ctx.client.book(eventId, "late-with-stock", 2);
    await sleep(1100);
    const answer = await ctx.client.webhook(completedEvent({ id: held.body.id, eventId }, 10000));
    expect(answer.body.outcome).toBe("late_paid");
    expect((await ctx.client.get(held.body.id, held.body.token)).body.status).toBe("paid");
    expect(await checkInvariant(ctx.running.engine, eventId)).toMatchObject({ paid: 2, instock: 1 });
  });

  it("marks a late payment refunded when its tickets went to the line", async () => {
    const eventId = await ctx.client.eventId({ capacity: 1 });
    const held = await ctx.client.book(eventId, "late-no-stock");
    const next = await ctx.client.book(eventId, "patient");
    await sleep(1100);
    await ctx.running.engine.sweep(eventId);
    expect((await ctx.client.get(next.body.id, next.body.token)).body.status).toBe("held");
    const answer = await ctx.client.webhook(completedEvent({ id: held.body.id, eventId }, 5000));
    expect(answer.body.outcome).toBe("refund");
    expect((await ctx.client.get(held.body.id, held.body.token)).body.status).toBe("refunded");
    expect(await paymentRows(held.body.id)).toMatchObject([{ status: "refund_due" }]);
    expect(await checkInvariant(ctx.running.engine, eventId)).toMatchObject({ paid: 0, held: 1, instock: 0 });
  });
});
