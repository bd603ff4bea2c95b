import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { eventKeys, logKey } from "../engine/keys.js";
import { paymentToRefund } from "../sql/payments.js";
import { ADMIN_TOKEN, checkInvariant, completedEvent, sleep, useTestEngine } from "./helpers.js";

// The webhook is the only proof of payment: replays, duplicates, forgeries and late payments.

const ctx = useTestEngine({ HOLD_SECONDS: "1" });

async function paymentRows(bookingId: string) {
  const { rows } = await ctx.running.pool.query(
    "SELECT provider_event_id, status FROM payments WHERE booking_id = $1 ORDER BY created_at",
    [bookingId],
  );
  return rows;
}

/** A completed session that carries our booking only as the given fields, as a dashboard session or payment link does. */
function sessionNaming(
  names: { client_reference_id?: string | null; metadata?: Record<string, string> },
  amount: number,
) {
  const event = completedEvent({ id: "", eventId: "" }, amount);
  Object.assign(event.data.object, { client_reference_id: null, metadata: {} }, names);
  return event;
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
    const { rows } = await ctx.running.pool.query(
      "SELECT count(*)::int AS n FROM bookings WHERE id = $1 AND status = 'paid'",
      [held.body.id],
    );
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
    const unsigned = await ctx.client.request("POST", "/webhooks/stripe", {
      body: completedEvent({ id: held.body.id, eventId }, 5000),
    });
    expect(unsigned.status).toBe(400);
    expect((await ctx.client.get(held.body.id, held.body.token)).body.status).toBe("held");
    expect(await ctx.running.engine.redis.xlen(logKey(eventId))).toBe(logLength);
    expect(await paymentRows(held.body.id)).toEqual([]);
  });

  it("answers 404 problem+json for a provider this engine does not run, and records nothing", async () => {
    const eventId = await ctx.client.eventId();
    const held = await ctx.client.book(eventId, "elsewhere", 1);
    const answer = await ctx.client.request("POST", "/webhooks/paypal", {
      body: completedEvent({ id: held.body.id, eventId }, 5000),
    });
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

  it("refunds a late payment that would take a person past the per-person limit (hold A lapses, hold B, pay A, pay B)", async () => {
    const eventId = await ctx.client.eventId({ capacity: 10, maxPerUser: 2 });
    const first = await ctx.client.book(eventId, "two-holds", 2);
    await sleep(1100);
    await ctx.running.engine.sweep(eventId);
    expect((await ctx.client.get(first.body.id, first.body.token)).body.status).toBe("expired");
    const second = await ctx.client.book(eventId, "two-holds", 2);
    expect(second.status).toBe(201);
    const late = await ctx.client.webhook(completedEvent({ id: first.body.id, eventId }, 10000));
    expect(late.body.outcome).toBe("over_limit");
    expect((await ctx.client.get(first.body.id, first.body.token)).body).toMatchObject({
      status: "refunded",
      reason: "late_payment_over_limit",
    });
    const onTime = await ctx.client.webhook(completedEvent({ id: second.body.id, eventId }, 10000));
    expect(onTime.body.outcome).toBe("paid");
    expect(await paymentRows(first.body.id)).toMatchObject([{ status: "refund_due" }]);
    expect(await checkInvariant(ctx.running.engine, eventId)).toMatchObject({ paid: 2, held: 0, instock: 8 });
    expect(await ctx.running.engine.redis.hget(eventKeys(eventId)[3], "two-holds")).toBe("2");
  });

  it("applies a payment whose session names our booking but not its event (client_reference_id or metadata.bookingId only)", async () => {
    const eventId = await ctx.client.eventId({ capacity: 4 });
    // Held a moment ago: only Redis knows it yet.
    const fresh = await ctx.client.book(eventId, "dashboard-session", 1);
    const byReference = await ctx.client.webhook(sessionNaming({ client_reference_id: fresh.body.id }, 5000));
    expect(byReference).toMatchObject({ status: 200, body: { outcome: "paid" } });
    // Relayed to PostgreSQL already.
    const relayed = await ctx.client.book(eventId, "payment-link", 2);
    await ctx.running.relay.pass();
    const byMetadata = await ctx.client.webhook(sessionNaming({ metadata: { bookingId: relayed.body.id } }, 10000));
    expect(byMetadata).toMatchObject({ status: 200, body: { outcome: "paid" } });
    for (const held of [fresh, relayed])
      expect((await ctx.client.get(held.body.id, held.body.token)).body.status).toBe("paid");
    const { rows } = await ctx.running.pool.query(
      "SELECT event_id, status FROM payments WHERE booking_id = ANY($1::uuid[])",
      [[fresh.body.id, relayed.body.id]],
    );
    expect(rows).toEqual([
      { event_id: eventId, status: "applied" },
      { event_id: eventId, status: "applied" },
    ]);
    expect(await checkInvariant(ctx.running.engine, eventId)).toMatchObject({ paid: 3, instock: 1 });
  });

  it("stores a payment that names no booking of ours as unmatched, counts it, and owes its refund", async () => {
    const strangers = [
      sessionNaming({ client_reference_id: randomUUID() }, 700),
      sessionNaming({ metadata: { bookingId: "order-7" } }, 800),
    ];
    for (const event of strangers) {
      const answer = await ctx.client.webhook(event);
      expect(answer).toMatchObject({ status: 200, body: { outcome: "unmatched" } });
      const { rows } = await ctx.running.pool.query(
        "SELECT id, status, amount FROM payments WHERE provider_event_id = $1",
        [event.id],
      );
      expect(rows).toMatchObject([{ status: "unmatched", amount: event.data.object.amount_total }]);
      expect(await paymentToRefund(ctx.running.pool, rows[0].id)).toMatchObject({ owed: true });
    }
    const metrics = await ctx.client.request("GET", "/metrics");
    expect(metrics.body).toMatch(/onsale_payments_total\{outcome="unmatched"\} [2-9]/);
  });

  it("lists unmatched and refunded payments for operators: GET /admin/payments, newest first", async () => {
    const stranger = sessionNaming({ client_reference_id: randomUUID() }, 900);
    expect((await ctx.client.webhook(stranger)).body.outcome).toBe("unmatched");
    const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    const listed = await ctx.client.request("GET", "/admin/payments?status=unmatched&limit=5", { headers: admin });
    expect(listed.status).toBe(200);
    expect(listed.body.data[0]).toMatchObject({
      providerEventId: stranger.id,
      provider: "stripe",
      status: "unmatched",
      type: "checkout.session.completed",
      amountMinor: 900,
      currency: "eur",
      bookingId: stranger.data.object.client_reference_id,
      eventId: null,
      refundRef: null,
    });
    expect(listed.body.data.length).toBeLessThanOrEqual(5);
    expect(listed.body.data.every((row: { status: string }) => row.status === "unmatched")).toBe(true);
    const everything = await ctx.client.request("GET", "/admin/payments", { headers: admin });
    expect(everything.body.data.map((row: { providerEventId: string }) => row.providerEventId)).toContain(stranger.id);
    expect((await ctx.client.request("GET", "/admin/payments?status=applied", { headers: admin })).status).toBe(400);
    expect((await ctx.client.request("GET", "/admin/payments?limit=0", { headers: admin })).status).toBe(400);
    expect((await ctx.client.request("GET", "/admin/payments")).status).toBe(401);

    const env = {
      ...process.env,
      REDIS_URL: inject("redisUrl"),
      DATABASE_URL: inject("databaseUrl"),
      LOG_LEVEL: "silent",
    };
    const { stdout } = await promisify(execFile)(
      "npx",
      ["tsx", "bin/onsale.ts", "payments", "--status", "unmatched,refunded", "--limit", "3"],
      { env, timeout: 60_000 },
    );
    const lines = stdout.trim().split("\n");
    expect(lines[0]).toContain(`unmatched stripe/${stranger.id} checkout.session.completed €9.00`);
    expect(lines.length).toBeLessThanOrEqual(3);
  });
});
