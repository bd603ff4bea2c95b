import { randomUUID } from "node:crypto";
import fc from "fast-check";
import Stripe from "stripe";
import { afterEach, describe, expect, it } from "vitest";
import { checkInvariant, sleep, useTestEngine, waitFor, type Api } from "./helpers.js";
import type { RunningEngine } from "../bin/app.js";
import { bookingKey } from "../engine/keys.js";

// Every payment race, driven the way production runs it: the engine's `stripe` SDK talks
// HTTP to the mock gateway, a person acts on the hosted checkout page, and the gateway's
// signed webhooks (duplicated, late or out of order through its knobs) come back to the
// engine. After each test: no oversell, and one payment row per provider event.

// Holds long enough that only the tests that want a hold to end see one end.
const engine = useTestEngine({ HOLD_SECONDS: "60" }, { work: true });
// Holds that end at once, for payments that land after their hold. It shares the first
// engine's gateway, as two engine processes share one Stripe account.
const short = useTestEngine(
  () => ({
    HOLD_SECONDS: "1",
    CHECKOUT_CLOSE_GRACE_SECONDS: "0",
    MOCK_GATEWAY_PORT: String(engine.running.config.payments.mock.port),
  }),
  { work: true, gateway: false },
);

interface Held {
  id: string;
  token: string;
  eventId: string;
  userId: string;
}

/** Talks to one engine and its mock gateway as a person and as the operator would. */
class Shop {
  readonly stripe: Stripe;
  readonly gateway: string;
  readonly touched: Held[] = [];

  constructor(readonly ctx: { running: RunningEngine; client: Api }) {
    const { config } = ctx.running;
    this.gateway = `http://127.0.0.1:${config.payments.mock.port}`;
    this.stripe = new Stripe(config.payments.stripe.secretKey, {
      host: "127.0.0.1",
      port: config.payments.mock.port,
      protocol: "http",
    });
  }

  get client() {
    return this.ctx.client;
  }

  async hold(eventId: string, userId: string, quantity = 1): Promise<Held & { status: string }> {
    const answer = await this.client.book(eventId, userId, quantity);
    expect([201, 202]).toContain(answer.status);
    const held = { id: answer.body.id, token: answer.body.token, eventId, userId, status: answer.body.status };
    this.touched.push(held);
    return held;
  }

  /** Follows the booking's payment link to the gateway's hosted checkout; returns the session id. */
  async openCheckout(booking: Held): Promise<string> {
    const answer = await this.client.request("GET", `/pay/${booking.id}?token=${encodeURIComponent(booking.token)}`);
    expect(answer.status).toBe(303);
    const location = answer.headers.get("location")!;
    expect(location.startsWith(`${this.gateway}/checkout/`)).toBe(true);
    return location.slice(`${this.gateway}/checkout/`.length);
  }

  /** Presses a button on the hosted checkout page, with the gateway's test knobs. */
  async press(
    sessionId: string,
    button: "pay" | "decline" | "abandon",
    knobs: Record<string, number | string> = {},
    expected = 303,
  ): Promise<string> {
    const query = new URLSearchParams(Object.entries(knobs).map(([k, v]) => [k, String(v)]));
    const response = await fetch(`${this.gateway}/checkout/${sessionId}/${button}?${query}`, {
      method: "POST",
      redirect: "manual",
    });
    expect(response.status).toBe(expected);
    return response.headers.get("location") ?? "";
  }

  async status(booking: Held): Promise<{ status: string; reason?: string }> {
    return (await this.client.get(booking.id, booking.token)).body;
  }

  untilStatus(booking: Held, status: string, timeoutMs = 10_000) {
    return waitFor(
      () => this.status(booking),
      (view) => view.status === status,
      timeoutMs,
    );
  }

  async payments(
    bookingId: string,
  ): Promise<{ provider_event_id: string; kind: string; status: string; refund_ref: string | null }[]> {
    const { rows } = await this.ctx.running.pool.query(
      "SELECT provider_event_id, kind, status, refund_ref FROM payments WHERE booking_id = $1 ORDER BY created_at, provider_event_id",
      [bookingId],
    );
    return rows;
  }

  /**
   * Waits until the payment rows of a booking satisfy `done` and none is still being applied
   * (a booking can read paid a moment before its row's outcome commits).
   */
  untilPayments(bookingId: string, done: (rows: Awaited<ReturnType<Shop["payments"]>>) => boolean, timeoutMs = 15_000) {
    return waitFor(
      () => this.payments(bookingId),
      (rows) => done(rows) && rows.every((row) => row.status !== "received"),
      timeoutMs,
      100,
    );
  }

  /** Every event the gateway sent about a booking, read through the SDK (newest first). */
  async gatewayEvents(bookingId: string): Promise<Stripe.Event[]> {
    const events: Stripe.Event[] = [];
    for await (const event of this.stripe.events.list({ limit: 100 })) {
      const object = event.data.object as { metadata?: Record<string, string>; client_reference_id?: string };
      if (object.metadata?.bookingId === bookingId || object.client_reference_id === bookingId) events.push(event);
    }
    return events;
  }

  /** Pays a session made outside the engine (a payment link): it names the booking by client_reference_id only. */
  async payByLink(booking: Held, amountMinor: number, currency: string, knobs: Record<string, number>): Promise<void> {
    const session = await this.stripe.checkout.sessions.create({
      mode: "payment",
      line_items: [
        { quantity: 1, price_data: { currency, unit_amount: amountMinor, product_data: { name: "Payment link" } } },
      ],
      client_reference_id: booking.id,
      success_url: "http://127.0.0.1/done",
    });
    await this.press(session.id, "pay", knobs);
  }

  /** After a test: the invariant holds, and every event the gateway sent is one payment row. */
  async verify(): Promise<void> {
    for (const eventId of new Set(this.touched.map((b) => b.eventId)))
      await checkInvariant(this.ctx.running.engine, eventId);
    for (const booking of this.touched) {
      const sent = (await this.gatewayEvents(booking.id)).map((event) => event.id).sort();
      const rows = await this.untilPayments(booking.id, (r) => r.length >= sent.length);
      expect(rows.map((row) => row.provider_event_id).sort()).toEqual(sent);
    }
    this.touched.length = 0;
  }
}

const shops = new Map<object, Shop>();
const shopOf = (ctx: typeof engine) => {
  let shop = shops.get(ctx);
  if (shop === undefined) {
    shop = new Shop(ctx);
    shops.set(ctx, shop);
  }
  return shop;
};

afterEach(async () => {
  for (const shop of shops.values()) await shop.verify();
});

describe("payments through the stripe SDK and the mock gateway", () => {
  it("pays once when the gateway delivers checkout.session.completed five times at once", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId({ capacity: 4 });
    const booking = await shop.hold(eventId, "payer-dup", 2);
    const session = await shop.openCheckout(booking);
    await shop.press(session, "pay", { duplicates: 5 });
    await shop.untilStatus(booking, "paid");
    await sleep(300); // let the other copies land
    expect(await shop.payments(booking.id)).toMatchObject([{ kind: "checkout.session.completed", status: "applied" }]);
    expect(await checkInvariant(engine.running.engine, eventId)).toMatchObject({ paid: 2, instock: 2 });
  });

  it("opening the payment link twice reuses one Checkout Session (idempotency key per hold)", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId();
    const booking = await shop.hold(eventId, "payer-twice");
    const first = await shop.openCheckout(booking);
    expect(await shop.openCheckout(booking)).toBe(first);
    const session = await shop.stripe.checkout.sessions.retrieve(first);
    expect(session).toMatchObject({
      client_reference_id: booking.id,
      metadata: { bookingId: booking.id, eventId, userId: "payer-twice" },
      amount_total: 5000,
      currency: "eur",
      status: "open",
    });
  });

  it("a declined card keeps the hold: the page says so and offers to try again, and another card pays", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId({ capacity: 1 });
    const first = await shop.hold(eventId, "declined");
    const second = await shop.hold(eventId, "next-in-line");
    expect(second.status).toBe("waiting");
    const session = await shop.openCheckout(first);
    const back = await shop.press(session, "decline");
    expect(await shop.untilPayments(first.id, (r) => r.length === 1)).toMatchObject([
      { kind: "payment_intent.payment_failed", status: "declined" },
    ]);
    expect((await shop.status(first)).status).toBe("held");
    expect((await shop.status(second)).status).toBe("waiting");
    const page = await shop.client.request("GET", back.slice(back.indexOf("/pay/")));
    expect(page.body).toContain('data-status="declined"');
    expect(page.body).toContain(`href="/pay/${first.id}?token=${encodeURIComponent(first.token)}"`);
    // Trying again opens the same checkout, still open at the gateway.
    expect(await shop.openCheckout(first)).toBe(session);
    await shop.press(session, "pay");
    await shop.untilStatus(first, "paid");
    expect(await checkInvariant(engine.running.engine, eventId)).toMatchObject({ paid: 1, instock: 0 });
  });

  it("releases the hold at once when the Checkout Session expires, and serves the line", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId({ capacity: 1 });
    const first = await shop.hold(eventId, "expired-checkout");
    const second = await shop.hold(eventId, "after-expiry");
    const session = await shop.openCheckout(first);
    const expired = await shop.stripe.checkout.sessions.expire(session);
    expect(expired.status).toBe("expired");
    expect(await shop.untilStatus(first, "cancelled")).toMatchObject({ reason: "checkout_expired" });
    await shop.untilStatus(second, "held", 2_000);
  });

  it("declined twice then completed: the third card pays on the hold it kept", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId({ capacity: 2 });
    const booking = await shop.hold(eventId, "third-card");
    const session = await shop.openCheckout(booking);
    await shop.press(session, "decline");
    await shop.press(session, "decline");
    await shop.untilPayments(booking.id, (r) => r.length === 2);
    await shop.press(session, "pay");
    await shop.untilStatus(booking, "paid");
    const rows = await shop.untilPayments(booking.id, (r) => r.length === 3);
    expect(rows.map((row) => row.status).sort()).toEqual(["applied", "declined", "declined"]);
    expect(await checkInvariant(engine.running.engine, eventId)).toMatchObject({ paid: 1, instock: 1 });
  });

  it("paid after the hold was cancelled, its tickets gone to the line: refunded through the provider", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId({ capacity: 1 });
    const booking = await shop.hold(eventId, "too-late-card");
    const next = await shop.hold(eventId, "took-it");
    const session = await shop.openCheckout(booking);
    await engine.running.engine.release(eventId, booking.id, "payment_failed");
    await shop.untilStatus(next, "held");
    await shop.press(session, "pay");
    await shop.untilStatus(booking, "refunded");
    const rows = await shop.untilPayments(booking.id, (r) => r.some((row) => row.kind === "charge.refunded"));
    expect(rows.find((row) => row.kind === "checkout.session.completed")).toMatchObject({
      status: "refunded",
      refund_ref: expect.stringMatching(/^re_/),
    });
    expect(rows.find((row) => row.kind === "charge.refunded")).toMatchObject({ status: "refund_confirmed" });
    expect((await shop.stripe.checkout.sessions.retrieve(session)) as unknown).toMatchObject({ amount_refunded: 5000 });
    expect(await checkInvariant(engine.running.engine, eventId)).toMatchObject({ paid: 0, held: 1, instock: 0 });
  });

  it("completed then failed: a failure delivered late does not undo the payment", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId({ capacity: 2 });
    const booking = await shop.hold(eventId, "late-failure");
    const session = await shop.openCheckout(booking);
    await shop.press(session, "decline", { delayMs: 2_500 });
    await shop.press(session, "pay");
    await shop.untilStatus(booking, "paid");
    const rows = await shop.untilPayments(booking.id, (r) => r.length === 2);
    expect(rows.map((row) => [row.kind, row.status])).toEqual([
      ["checkout.session.completed", "applied"],
      ["payment_intent.payment_failed", "declined"],
    ]);
    expect((await shop.status(booking)).status).toBe("paid");
    expect(await checkInvariant(engine.running.engine, eventId)).toMatchObject({ paid: 1, instock: 1 });
  });

  it("refuses, flags and refunds a payment whose amount differs (the seed's POST /pay with the wrong amount)", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId();
    const booking = await shop.hold(eventId, "short-changer", 2);
    const session = await shop.openCheckout(booking);
    const paid = await fetch(`${shop.gateway}/pay`, {
      method: "POST",
      body: JSON.stringify({ userId: "short-changer", eventId, amount: 100 }),
    });
    expect(paid.status).toBe(200);
    // Not confirmed, and not kept: the row stays 'mismatch' for an operator to see, with its refund.
    const rows = await shop.untilPayments(booking.id, (r) => r.some((row) => row.kind === "charge.refunded"));
    expect(rows.find((row) => row.kind === "checkout.session.completed")).toMatchObject({
      status: "mismatch",
      refund_ref: expect.stringMatching(/^re_/),
    });
    expect(rows.find((row) => row.kind === "charge.refunded")).toMatchObject({ status: "refund_confirmed" });
    expect((await shop.stripe.checkout.sessions.retrieve(session)) as unknown).toMatchObject({ amount_refunded: 100 });
    expect((await shop.status(booking)).status).toBe("held");
    expect(await engine.running.engine.redis.hget(bookingKey(eventId, booking.id), "flag")).toMatch(
      /^amount_mismatch:cs_test_/,
    );
    expect(await checkInvariant(engine.running.engine, eventId)).toMatchObject({ held: 2, paid: 0 });
  });

  it("the seed's POST /pay with the right amount pays the person's open checkout", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId();
    const booking = await shop.hold(eventId, "seed-payer", 3);
    const none = await fetch(`${shop.gateway}/pay`, {
      method: "POST",
      body: JSON.stringify({ userId: "nobody", eventId, amount: 15000 }),
    });
    expect(none.status).toBe(404);
    await shop.openCheckout(booking);
    const paid = await fetch(`${shop.gateway}/pay`, {
      method: "POST",
      body: JSON.stringify({ userId: "seed-payer", eventId, amount: 15000 }),
    });
    expect(paid.status).toBe(200);
    await shop.untilStatus(booking, "paid");
  });

  it("cancel while the payment is in flight: the booking stays cancelled and the payment is refunded", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId({ capacity: 2 });
    const booking = await shop.hold(eventId, "changed-mind", 2);
    const session = await shop.openCheckout(booking);
    await shop.press(session, "pay", { delayMs: 500 });
    expect((await shop.client.cancel(booking.id, booking.token)).status).toBe(200);
    const rows = await shop.untilPayments(booking.id, (r) => r.some((row) => row.status === "refund_confirmed"));
    expect(rows.find((row) => row.kind === "checkout.session.completed")).toMatchObject({ status: "refunded" });
    expect(await shop.status(booking)).toMatchObject({ status: "cancelled", reason: "user" });
    expect(await checkInvariant(engine.running.engine, eventId)).toMatchObject({ paid: 0, held: 0, instock: 2 });
  });

  it("the success page says confirming until the webhook lands, then paid", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId();
    const booking = await shop.hold(eventId, "impatient");
    const back = await shop.press(await shop.openCheckout(booking), "pay", { delayMs: 1500 });
    const path = back.slice(back.indexOf("/pay/"));
    const before = await shop.client.request("GET", path);
    expect(before.body).toContain('data-status="confirming"');
    await shop.untilStatus(booking, "paid");
    const after = await shop.client.request("GET", path);
    expect(after.body).toContain('data-status="paid"');
  });

  it("abandoning checkout sends nothing: the hold stays until it ends or the session expires", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId();
    const booking = await shop.hold(eventId, "wanderer");
    const session = await shop.openCheckout(booking);
    await shop.press(session, "abandon");
    await sleep(300);
    expect((await shop.status(booking)).status).toBe("held");
    expect((await shop.stripe.checkout.sessions.retrieve(session)).status).toBe("open");
  });

  it("a payment under way when its hold expires takes stock again when some is left", async () => {
    const shop = shopOf(short);
    const eventId = await shop.client.eventId({ capacity: 3 });
    const booking = await shop.hold(eventId, "slow-payer", 2);
    await shop.press(await shop.openCheckout(booking), "pay", { delayMs: 1_500 });
    await shop.untilStatus(booking, "paid");
    expect(await shop.untilPayments(booking.id, (r) => r.length === 1)).toMatchObject([{ status: "late_applied" }]);
    expect(await checkInvariant(short.running.engine, eventId)).toMatchObject({ paid: 2, instock: 1 });
  });

  it("a payment under way when its hold expires, its tickets sold meanwhile, is refunded through the provider (pretix #74)", async () => {
    const shop = shopOf(short);
    const eventId = await shop.client.eventId({ capacity: 1 });
    const booking = await shop.hold(eventId, "slowest-payer");
    const next = await shop.hold(eventId, "was-waiting");
    await shop.press(await shop.openCheckout(booking), "pay", { delayMs: 4_000, duplicates: 3 });
    await shop.untilStatus(next, "held", 3_000); // the sweep hands the expired hold on
    await shop.press(await shop.openCheckout(next), "pay");
    await shop.untilStatus(next, "paid");
    await shop.untilStatus(booking, "refunded");
    const rows = await shop.untilPayments(booking.id, (r) => r.some((row) => row.status === "refund_confirmed"));
    expect(rows.filter((row) => row.kind === "charge.refunded")).toHaveLength(1);
    expect(rows.find((row) => row.kind === "checkout.session.completed")).toMatchObject({ status: "refunded" });
    expect(await checkInvariant(short.running.engine, eventId)).toMatchObject({ paid: 1, held: 0, instock: 0 });
    const metrics = await shop.client.request("GET", "/metrics");
    expect(metrics.body).toMatch(/onsale_refunds_total\{result="refunded"\} [1-9]/);
    expect(metrics.body).toMatch(/onsale_payments_total\{outcome="refund"\} [1-9]/);
  });

  it("closes the Checkout Session once the hold is over, so nobody pays for tickets that are gone (pretix #2629)", async () => {
    const shop = shopOf(short);
    const eventId = await shop.client.eventId();
    const booking = await shop.hold(eventId, "came-back-later");
    const session = await shop.openCheckout(booking);
    await waitFor(
      () => shop.stripe.checkout.sessions.retrieve(session),
      (s) => s.status === "expired",
      8_000,
      200,
    );
    await shop.press(session, "pay", {}, 409);
    expect((await shop.status(booking)).status).toBe("expired");
    expect(await checkInvariant(short.running.engine, eventId)).toMatchObject({ paid: 0, instock: 10 });
  });

  it("a bank payment that settles after its hold ended still gets its tickets while stock is left (pretix #827)", async () => {
    const shop = shopOf(short);
    const eventId = await shop.client.eventId({ capacity: 2 });
    const booking = await shop.hold(eventId, "bank-payer", 2);
    await shop.press(await shop.openCheckout(booking), "pay", { async: "succeed", settleMs: 1_500 });
    const first = await shop.untilPayments(booking.id, (r) => r.length === 1);
    expect(first).toMatchObject([{ kind: "checkout.session.completed", status: "awaiting_payment" }]);
    await shop.untilStatus(booking, "paid");
    const rows = await shop.untilPayments(booking.id, (r) => r.length === 2);
    expect(rows.map((row) => [row.kind, row.status])).toEqual([
      ["checkout.session.completed", "awaiting_payment"],
      ["checkout.session.async_payment_succeeded", "late_applied"],
    ]);
  });

  it("a bank payment that fails releases the hold at once", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId({ capacity: 1 });
    const booking = await shop.hold(eventId, "bounced-debit");
    const next = await shop.hold(eventId, "behind-debit");
    await shop.press(await shop.openCheckout(booking), "pay", { async: "fail", settleMs: 300 });
    expect(await shop.untilStatus(booking, "cancelled")).toMatchObject({ reason: "payment_failed" });
    await shop.untilStatus(next, "held", 2_000);
  });

  it("after a cancelled booking the person can book again and pay: no idempotency key blocks the retry (alf.io #1254)", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId({ capacity: 1 });
    const first = await shop.hold(eventId, "retrier");
    const firstSession = await shop.openCheckout(first);
    await shop.press(firstSession, "decline");
    expect((await shop.client.cancel(first.id, first.token)).status).toBe(200);
    const again = await shop.hold(eventId, "retrier");
    expect(again.status).toBe("held");
    const secondSession = await shop.openCheckout(again);
    expect(secondSession).not.toBe(firstSession);
    await shop.press(secondSession, "pay");
    await shop.untilStatus(again, "paid");
    expect(await checkInvariant(engine.running.engine, eventId)).toMatchObject({ paid: 1, instock: 0 });
  });

  it("a session made in the provider's dashboard: paid for our booking it applies; for none of ours it is kept unmatched and refunded", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId();
    const booking = await shop.hold(eventId, "dashboard-buyer", 2);
    const dashboardSession = (reference: string) =>
      shop.stripe.checkout.sessions.create({
        mode: "payment",
        line_items: [
          { quantity: 2, price_data: { currency: "eur", unit_amount: 5000, product_data: { name: "By hand" } } },
        ],
        client_reference_id: reference,
        success_url: "http://127.0.0.1/done",
      });
    const ours = await dashboardSession(booking.id);
    await shop.press(ours.id, "pay");
    await shop.untilStatus(booking, "paid");
    const stranger = await dashboardSession(randomUUID());
    await shop.press(stranger.id, "pay");
    const rows = await waitFor(
      async () =>
        (
          await engine.running.pool.query(
            "SELECT kind, status, refund_ref FROM payments WHERE provider_ref IN ($1, $2) ORDER BY created_at",
            [stranger.id, stranger.payment_intent],
          )
        ).rows,
      (found) => found.some((row) => row.status === "refund_confirmed"),
    );
    expect(rows).toMatchObject([
      { kind: "checkout.session.completed", status: "unmatched", refund_ref: expect.stringMatching(/^re_/) },
      { kind: "charge.refunded", status: "refund_confirmed" },
    ]);
    expect((await shop.stripe.checkout.sessions.retrieve(stranger.id)) as unknown).toMatchObject({
      amount_refunded: 10000,
    });
    expect(await checkInvariant(engine.running.engine, eventId)).toMatchObject({ paid: 2 });
    shop.touched.pop(); // its events carry no metadata.bookingId for verify() to find
  });

  it("a currency without cents: 1999 JPY is ¥1,999 on the booking page, at checkout and in the charge", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId({ price: 1999, currency: "JPY" });
    expect((await shop.client.request("GET", `/e/${eventId}`)).body).toContain("¥1,999 per ticket");
    const booking = await shop.hold(eventId, "yen-payer", 2);
    const session = await shop.openCheckout(booking);
    expect(await shop.stripe.checkout.sessions.retrieve(session)).toMatchObject({
      amount_total: 3998,
      currency: "jpy",
    });
    const checkoutPage = await (await fetch(`${shop.gateway}/checkout/${session}`)).text();
    expect(checkoutPage).toContain("¥3,998");
    await shop.press(session, "pay");
    await shop.untilStatus(booking, "paid");
  });

  it("a payment fact recorded before a crash is applied by the repair pass", async () => {
    const shop = shopOf(engine);
    const eventId = await shop.client.eventId();
    const booking = await shop.hold(eventId, "crash-victim");
    const session = await shop.openCheckout(booking);
    // What ingest writes first; the process then died before the engine confirmed.
    await engine.running.pool.query(
      `INSERT INTO payments (booking_id, event_id, provider, provider_event_id, provider_ref, kind, action, amount, currency, status, updated_at)
       VALUES ($1, $2, 'stripe', $3, $4, 'checkout.session.completed', 'confirm', 5000, 'eur', 'received', now() - interval '2 minutes')`,
      [booking.id, eventId, `evt_crash_${booking.id}`, session],
    );
    const repaired = await engine.running.ingest.repairStale(60_000, 100);
    expect(repaired).toBeGreaterThanOrEqual(1);
    expect((await shop.status(booking)).status).toBe("paid");
    expect(await shop.payments(booking.id)).toMatchObject([{ status: "applied" }]);
    shop.touched.pop(); // this fact never came from the gateway
    await checkInvariant(engine.running.engine, eventId);
  });

  it("whatever people and the gateway do, in any order: no oversell, and every payment either bought the tickets or was refunded", async () => {
    const shop = shopOf(engine);
    type Act = {
      person: number;
      what: "pay" | "decline" | "retry" | "expire" | "cancel" | "link";
      delayMs: number;
      duplicates: number;
    };
    const act: fc.Arbitrary<Act> = fc.record({
      person: fc.nat(4),
      // retry: a card declined, then another card on the same checkout.
      what: fc.constantFrom(
        "pay" as const,
        "decline" as const,
        "retry" as const,
        "expire" as const,
        "cancel" as const,
        "link" as const,
      ),
      delayMs: fc.integer({ min: 0, max: 300 }),
      duplicates: fc.integer({ min: 1, max: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom("EUR", "JPY"),
        fc.array(act, { minLength: 1, maxLength: 12 }),
        async (capacity, currency, acts) => {
          const eventId = await shop.client.eventId({ capacity, currency });
          const people: (Held & { status: string })[] = [];
          for (let person = 0; person < 5; person++) people.push(await shop.hold(eventId, `racer-${person}`));
          const sessions = new Map<number, string>();
          for (const [person, booking] of people.entries())
            if (booking.status === "held") sessions.set(person, await shop.openCheckout(booking));
          await Promise.all(
            acts.map(async ({ person, what, delayMs, duplicates }) => {
              const session = sessions.get(person);
              if (what === "cancel") return shop.client.cancel(people[person]!.id, people[person]!.token);
              if (what === "link")
                return shop.payByLink(people[person]!, 5000, currency.toLowerCase(), { delayMs, duplicates });
              if (session === undefined) return;
              // Stripe refuses to expire a session that is no longer open (paid or expired already): 400.
              if (what === "expire") {
                return shop.stripe.checkout.sessions.expire(session, {}).catch((error: { statusCode?: number }) => {
                  if (error.statusCode !== 400) throw error;
                });
              }
              const query = new URLSearchParams({ delayMs: String(delayMs), duplicates: String(duplicates) });
              const press = (button: string) =>
                fetch(`${shop.gateway}/checkout/${session}/${button}?${query}`, { method: "POST", redirect: "manual" });
              if (what === "retry") {
                await press("decline");
                return press("pay");
              }
              return press(what);
            }),
          );
          // Settled: every event the gateway sent is a row, none left to apply or refund.
          for (const booking of people) {
            const sent = await shop.gatewayEvents(booking.id); // listed when made, delivered later
            await shop.untilPayments(
              booking.id,
              (rows) =>
                rows.length >= sent.length && rows.every((row) => !["received", "refund_due"].includes(row.status)),
            );
          }
          await sleep(400); // late copies of delivered events land, and must change nothing
          for (const booking of people) {
            const status = (await shop.status(booking)).status;
            const completed = (await shop.payments(booking.id)).filter(
              (row) => row.kind === "checkout.session.completed",
            );
            const bought = completed.filter((row) => row.status === "applied" || row.status === "late_applied");
            expect(bought.length, `booking ${status}: ${JSON.stringify(completed)}`).toBe(status === "paid" ? 1 : 0);
            for (const row of completed) expect(["applied", "late_applied", "refunded"]).toContain(row.status);
          }
          await shop.verify();
          return true;
        },
      ),
      { numRuns: 12 },
    );
  });
});
