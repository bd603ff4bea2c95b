import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningEngine } from "../bin/app.js";
import { logKey } from "../engine/keys.js";
import { Api, api, checkInvariant, completedEvent, sleep, startTestEngine } from "./helpers.js";

// The webhook is the only proof of payment: replays, duplicates, forgeries and late payments.

let running: RunningEngine;
let client: Api;

beforeAll(async () => {
  running = await startTestEngine({ HOLD_SECONDS: "1" });
  client = api(running);
});
afterAll(() => running.stop());

async function paymentRows(bookingId: string) {
  const { rows } = await running.pool.query("SELECT provider_event_id, status FROM payments WHERE booking_id = $1 ORDER BY created_at", [bookingId]);
  return rows;
}

describe("webhooks", () => {
  it("applies a payment once: a replayed event and a duplicate for the same session change nothing", async () => {
    const eventId = await client.eventId({ capacity: 4 });
    const held = await client.book(eventId, "dup-payer", 2);
    const event = completedEvent({ id: held.body.id, eventId }, 10000);
    const first = await client.webhook(event);
    expect(first).toMatchObject({ status: 200, body: { outcome: "paid" } });
    const replay = await client.webhook(event);
    expect(replay).toMatchObject({ status: 200, body: { outcome: "duplicate" } });
    const duplicate = await client.webhook({ ...event, id: `${event.id}_again` });
    expect(duplicate.body.outcome).toBe("duplicate");
    expect(await checkInvariant(running.engine, eventId)).toMatchObject({ paid: 2, instock: 2 });
    expect(await paymentRows(held.body.id)).toEqual([
      { provider_event_id: event.id, status: "applied" },
      { provider_event_id: `${event.id}_again`, status: "duplicate" },
    ]);

    await running.relay.runOnce();
    const { rows } = await running.pool.query("SELECT count(*)::int AS n FROM bookings WHERE id = $1 AND status = 'paid'", [held.body.id]);
    expect(rows[0].n).toBe(1);
  });

  it("rejects a bad signature with 400 problem+json and changes nothing", async () => {
    const eventId = await client.eventId();
    const held = await client.book(eventId, "forger", 1);
    const logLength = await running.engine.redis.xlen(logKey(eventId));
    const forged = await client.webhook(completedEvent({ id: held.body.id, eventId }, 5000), "whsec_wrong");
    expect(forged.status).toBe(400);
    expect(forged.contentType).toBe("application/problem+json");
    expect(forged.body.type).toMatch(/invalid-signature$/);
    const unsigned = await client.request("POST", "/webhooks/stripe", { body: completedEvent({ id: held.body.id, eventId }, 5000) });
    expect(unsigned.status).toBe(400);
    expect((await client.get(held.body.id, held.body.token)).body.status).toBe("held");
    expect(await running.engine.redis.xlen(logKey(eventId))).toBe(logLength);
    expect(await paymentRows(held.body.id)).toEqual([]);
  });

  it("refuses a payment whose amount differs from the booking's", async () => {
    const eventId = await client.eventId();
    const held = await client.book(eventId, "underpayer", 2);
    const answer = await client.webhook(completedEvent({ id: held.body.id, eventId }, 1));
    expect(answer.body.outcome).toBe("mismatch");
    expect((await client.get(held.body.id, held.body.token)).body.status).toBe("held");
    expect(await paymentRows(held.body.id)).toMatchObject([{ status: "mismatch" }]);
  });

  it("takes stock again for a payment that lands after its hold expired, when stock is left", async () => {
    const eventId = await client.eventId({ capacity: 3 });
    const held = await client.book(eventId, "late-with-stock", 2);
    await sleep(1100);
    const answer = await client.webhook(completedEvent({ id: held.body.id, eventId }, 10000));
    expect(answer.body.outcome).toBe("late_paid");
    expect((await client.get(held.body.id, held.body.token)).body.status).toBe("paid");
    expect(await checkInvariant(running.engine, eventId)).toMatchObject({ paid: 2, instock: 1 });
  });

  it("marks a late payment refunded when its tickets went to the line", async () => {
    const eventId = await client.eventId({ capacity: 1 });
    const held = await client.book(eventId, "late-no-stock");
    const next = await client.book(eventId, "patient");
    await sleep(1100);
    await running.engine.sweep(eventId);
    expect((await client.get(next.body.id, next.body.token)).body.status).toBe("held");
    const answer = await client.webhook(completedEvent({ id: held.body.id, eventId }, 5000));
    expect(answer.body.outcome).toBe("refund");
    expect((await client.get(held.body.id, held.body.token)).body.status).toBe("refunded");
    expect(await paymentRows(held.body.id)).toMatchObject([{ status: "refund_due" }]);
    expect(await checkInvariant(running.engine, eventId)).toMatchObject({ paid: 0, held: 1, instock: 0 });
  });
});
