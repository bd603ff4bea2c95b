import { describe, expect, it } from "vitest";
import { eventKey } from "../engine/keys.js";
import { sweepPass } from "../jobs/sweep.js";
import { ADMIN_TOKEN, checkInvariant, completedEvent, sleep, useTestEngine, waitFor } from "./helpers.js";

// The four flows of the hold path, each through HTTP: hold, cancel, pay, expire.

const ctx = useTestEngine({ HOLD_SECONDS: "1" });

async function paidRows(eventId: string) {
  const { rows } = await ctx.running.pool.query(
    `SELECT b.id, b.status, b.quantity, b.payment_ref, p.status AS payment_status, p.amount
     FROM bookings b LEFT JOIN payments p ON p.booking_id = b.id
     WHERE b.event_id = $1 AND b.status = 'paid'`,
    [eventId],
  );
  return rows;
}

describe("hold", () => {
  it("holds tickets, answers 201 with token and payment link, and reads back with the token only", async () => {
    const eventId = await ctx.client.eventId({ capacity: 5 });
    const held = await ctx.client.book(eventId, "hold-alice", 2);
    expect(held.status).toBe(201);
    expect(held.body).toMatchObject({ status: "held", quantity: 2, amount: 10000, currency: "eur" });
    expect(Date.parse(held.body.expiresAt)).toBeGreaterThan(Date.now());
    expect(held.body.paymentUrl).toContain(`/pay/${held.body.id}`);

    const read = await ctx.client.get(held.body.id, held.body.token);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: held.body.id, eventId, userId: "hold-alice", status: "held", quantity: 2 });

    const forged = await ctx.client.get(held.body.id, `${eventId}.${"A".repeat(43)}`);
    expect(forged.status).toBe(404);
    expect(forged.contentType).toBe("application/problem+json");
    expect((await ctx.client.get(held.body.id, "")).status).toBe(404);

    const event = await ctx.client.request("GET", `/events/${eventId}`);
    expect(event.body.instock).toBe(3);
    await checkInvariant(ctx.running.engine, eventId);
  });

  it("answers 409 sold-out when nothing is left or held, and 409 when the person already has an open booking", async () => {
    const eventId = await ctx.client.eventId({ capacity: 1 });
    expect((await ctx.client.book(eventId, "only-one")).status).toBe(201);
    const again = await ctx.client.book(eventId, "only-one");
    expect(again.status).toBe(409);
    expect(again.body.type).toMatch(/open-booking-exists$/);
    const big = await ctx.client.book(eventId, "wants-two", 2);
    expect(big.status).toBe(409);
    expect(big.body.type).toMatch(/sold-out$/);
    await checkInvariant(ctx.running.engine, eventId);
  });

  it("replays an Idempotency-Key with the same booking and refuses it with another quantity", async () => {
    const eventId = await ctx.client.eventId();
    const first = await ctx.client.book(eventId, "idem-user", 2, { "Idempotency-Key": "key-1" });
    const second = await ctx.client.book(eventId, "idem-user", 2, { "Idempotency-Key": "key-1" });
    expect(second.status).toBe(201);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.token).toBe(first.body.token);
    const other = await ctx.client.book(eventId, "idem-user", 3, { "Idempotency-Key": "key-1" });
    expect(other.status).toBe(422);
    expect((await ctx.client.request("GET", `/events/${eventId}`)).body.instock).toBe(8);
  });

  it("scopes an Idempotency-Key to its user: another person sending the same key gets a booking and token of their own", async () => {
    const eventId = await ctx.client.eventId();
    const first = await ctx.client.book(eventId, "idem-owner", 2, { "Idempotency-Key": "shared-key" });
    const stranger = await ctx.client.book(eventId, "idem-stranger", 2, { "Idempotency-Key": "shared-key" });
    expect(first.status).toBe(201);
    expect(stranger.status).toBe(201);
    expect(stranger.headers.get("idempotent-replayed")).toBeNull();
    expect(stranger.body.id).not.toBe(first.body.id);
    expect(stranger.body.token).not.toBe(first.body.token);
    expect((await ctx.client.get(stranger.body.id, stranger.body.token)).body).toMatchObject({
      status: "held",
      quantity: 2,
    });
    expect((await ctx.client.request("GET", `/events/${eventId}`)).body.instock).toBe(6);
    await checkInvariant(ctx.running.engine, eventId);
  });

  it("enforces the per-person limit across bookings", async () => {
    const eventId = await ctx.client.eventId({ maxPerUser: 3 });
    const first = await ctx.client.book(eventId, "limit-user", 2);
    await ctx.client.webhook(completedEvent({ id: first.body.id, eventId }, 10000));
    const second = await ctx.client.book(eventId, "limit-user", 2);
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ remaining: 1 });
    expect((await ctx.client.book(eventId, "limit-user", 1)).status).toBe(201);
  });
});

describe("cancel", () => {
  it("gives held tickets back at once and serves the head of the line (Hi.Events #466)", async () => {
    const eventId = await ctx.client.eventId({ capacity: 2 });
    const a = await ctx.client.book(eventId, "cancel-a", 2);
    const b = await ctx.client.book(eventId, "cancel-b", 1);
    expect(b.status).toBe(202);
    expect(b.body.position).toBe(1);
    const cancelled = await ctx.client.cancel(a.body.id, a.body.token);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    expect((await ctx.client.get(b.body.id, b.body.token)).body.status).toBe("held");
    expect((await ctx.client.get(a.body.id, a.body.token)).body.status).toBe("cancelled");
    const twice = await ctx.client.cancel(a.body.id, a.body.token);
    expect(twice.status).toBe(409);
    expect(twice.body.type).toMatch(/not-cancellable$/);
    const tally = await checkInvariant(ctx.running.engine, eventId);
    expect(tally).toMatchObject({ instock: 1, held: 1, waiting: 0 });
  });

  it("needs the booking's own token", async () => {
    const eventId = await ctx.client.eventId();
    const a = await ctx.client.book(eventId, "cancel-owner");
    const other = await ctx.client.book(eventId, "cancel-other");
    expect((await ctx.client.cancel(a.body.id, other.body.token)).status).toBe(404);
    expect((await ctx.client.get(a.body.id, a.body.token)).body.status).toBe("held");
  });
});

describe("pay", () => {
  it("pays through the mock gateway with the stripe SDK, and the relay writes the paid booking once", async () => {
    const eventId = await ctx.client.eventId({ capacity: 3, name: "Pay Tour" });
    const held = await ctx.client.book(eventId, "payer", 2);
    const toGateway = await fetch(held.body.paymentUrl, { redirect: "manual" });
    expect(toGateway.status).toBe(303);
    const checkoutUrl = toGateway.headers.get("location")!;
    expect(checkoutUrl).toContain(`127.0.0.1:${ctx.running.config.payments.mock.port}/checkout/cs_test_`);
    const checkoutPage = await (await fetch(checkoutUrl)).text();
    expect(checkoutPage).toContain("Pay Tour");
    expect(checkoutPage).toContain("€100.00");

    const paid = await fetch(`${checkoutUrl}/pay`, { method: "POST", redirect: "manual" });
    expect(paid.status).toBe(303);
    const returnPage = paid.headers.get("location")!;
    let status = "";
    for (let i = 0; i < 50 && status !== "paid"; i++) {
      status = (await ctx.client.get(held.body.id, held.body.token)).body.status;
      if (status !== "paid") await sleep(50);
    }
    expect(status).toBe("paid");
    expect(await (await fetch(returnPage)).text()).toContain('data-status="paid"');

    await ctx.running.relay.pass();
    await ctx.running.relay.pass();
    const rows = await paidRows(eventId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: held.body.id, quantity: 2, payment_status: "applied", amount: 10000 });
    expect(rows[0].payment_ref).toMatch(/^cs_test_/);
    const tally = await checkInvariant(ctx.running.engine, eventId);
    expect(tally).toMatchObject({ instock: 1, held: 0, paid: 2 });
  });

  it("keeps the hold when the card is declined: the person may try another card", async () => {
    const eventId = await ctx.client.eventId({ capacity: 1 });
    const held = await ctx.client.book(eventId, "decliner");
    const waiting = await ctx.client.book(eventId, "next-in-line");
    const checkoutUrl = (await fetch(held.body.paymentUrl, { redirect: "manual" })).headers.get("location")!;
    await fetch(`${checkoutUrl}/decline`, { method: "POST", redirect: "manual" });
    let rows: { status: string }[] = [];
    for (let i = 0; i < 50 && rows.length === 0; i++) {
      rows = (await ctx.running.pool.query("SELECT status FROM payments WHERE booking_id = $1", [held.body.id])).rows;
      if (rows.length === 0) await sleep(50);
    }
    expect(rows).toEqual([{ status: "declined" }]);
    expect((await ctx.client.get(held.body.id, held.body.token)).body.status).toBe("held");
    expect((await ctx.client.get(waiting.body.id, waiting.body.token)).body.status).toBe("waiting");
    await checkInvariant(ctx.running.engine, eventId);
  });
});

describe("expire", () => {
  it("expires an unpaid hold after HOLD_SECONDS and the sweep gives its tickets back", async () => {
    const eventId = await ctx.client.eventId({ capacity: 2 });
    const held = await ctx.client.book(eventId, "slow-payer", 2);
    await sleep(1100);
    // Past its end the hold reads as expired even before anything reclaimed it.
    expect((await ctx.client.get(held.body.id, held.body.token)).body.status).toBe("expired");
    const swept = await ctx.running.engine.sweep(eventId);
    expect(swept).toMatchObject({ reclaimed: 1 });
    const tally = await checkInvariant(ctx.running.engine, eventId);
    expect(tally).toMatchObject({ instock: 2, held: 0 });
    expect(
      (await ctx.client.request("GET", `/pay/${held.body.id}?token=${encodeURIComponent(held.body.token)}`)).status,
    ).toBe(409);
    await ctx.running.relay.pass();
    const { rows } = await ctx.running.pool.query("SELECT status, reason FROM bookings WHERE id = $1", [held.body.id]);
    expect(rows).toEqual([{ status: "expired", reason: "hold_expired" }]);
  });

  it("serves the head of the line, not a newcomer, when holds expire", async () => {
    const eventId = await ctx.client.eventId({ capacity: 2 });
    await ctx.client.book(eventId, "first-a");
    await ctx.client.book(eventId, "first-b");
    const c = await ctx.client.book(eventId, "line-c");
    const d = await ctx.client.book(eventId, "line-d");
    expect([c.body.position, d.body.position]).toEqual([1, 2]);
    await sleep(1100);
    // No sweep: the newcomer's own call reclaims the expired holds and serves the line first.
    const newcomer = await ctx.client.book(eventId, "newcomer");
    expect(newcomer.status).toBe(202);
    expect(newcomer.body.position).toBe(1);
    expect((await ctx.client.get(c.body.id, c.body.token)).body.status).toBe("held");
    expect((await ctx.client.get(d.body.id, d.body.token)).body.status).toBe("held");
    await checkInvariant(ctx.running.engine, eventId);
  });
});

describe("sweep", () => {
  it("forgets an event whose hash is gone, and keeps the live ones", async () => {
    const engine = ctx.running.engine;
    const kept = await ctx.client.eventId();
    const lost = await ctx.client.eventId();
    await engine.redis.del(eventKey(lost));
    await sweepPass(engine);
    const live = await engine.liveEventIds();
    expect(live).toContain(kept);
    expect(live).not.toContain(lost);
  });

  it("forgets an event once its sale is over and nothing is held or waiting; reopening it brings it back", async () => {
    const engine = ctx.running.engine;
    const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    const eventId = await ctx.client.eventId({ capacity: 1 });
    const bookedAtMs = Date.now();
    expect((await ctx.client.book(eventId, "last-minute")).body.status).toBe("held");
    expect((await ctx.client.book(eventId, "in-line")).body.status).toBe("waiting");
    expect(
      (await ctx.client.request("PATCH", `/admin/events/${eventId}`, { headers: admin, body: { status: "closed" } }))
        .status,
    ).toBe(200);
    // Closed with its hold still running (a clock before the hold's end): the line is let go, the sweep still has work.
    expect(await engine.sweep(eventId, bookedAtMs + 1)).toMatchObject({ lineLength: 0, holdCount: 1, finished: false });
    // Once the hold has ended and come back, the sweep lets the event go.
    await waitFor(
      async () => {
        await sweepPass(engine);
        return engine.liveEventIds();
      },
      (live) => !live.includes(eventId),
      5000,
    );
    expect(
      (await ctx.client.request("PATCH", `/admin/events/${eventId}`, { headers: admin, body: { status: "on_sale" } }))
        .status,
    ).toBe(200);
    expect(await engine.liveEventIds()).toContain(eventId);
    expect((await ctx.client.book(eventId, "reopened")).body.status).toBe("held");
    await checkInvariant(engine, eventId);
  });

  it("clears the sale window with PATCH null, and keeps it when the field is left out", async () => {
    const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    const saleStartsAt = new Date(Date.now() + 3_600_000).toISOString();
    const saleEndsAt = new Date(Date.now() + 7_200_000).toISOString();
    const eventId = await ctx.client.eventId({ saleStartsAt, saleEndsAt });
    const patch = (body: Record<string, unknown>) =>
      ctx.client.request("PATCH", `/admin/events/${eventId}`, { headers: admin, body });

    const renamed = await patch({ name: "Renamed Tour" });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: "Renamed Tour", saleStartsAt, saleEndsAt });

    const cleared = await patch({ saleStartsAt: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ saleStartsAt: null, saleEndsAt });
    expect((await ctx.client.request("GET", `/events/${eventId}`)).body).toMatchObject({
      saleStartsAt: null,
      saleEndsAt,
    });
    // The sale is open now (before, a booking would wait in line): the window's start is gone from Redis too.
    expect((await ctx.client.book(eventId, "now-open")).body.status).toBe("held");

    const open = await patch({ saleEndsAt: null });
    expect(open.status).toBe(200);
    expect(open.body).toMatchObject({ saleStartsAt: null, saleEndsAt: null });
  });
});
