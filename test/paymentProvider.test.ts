import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { WebhookRejected, type PaymentProvider } from "../engine/payments/provider.js";
import { createStripeProvider, fromStripeAmount, toStripeAmount } from "../engine/payments/stripe.js";

// The payment provider interface, through its Stripe adapter: a signed webhook in, a neutral
// payment fact out. No engine, no network: decoding is pure.

const SECRET = "whsec_adapter_test";
const signer = new Stripe("sk_test_signer");
const bookingId = "01890a5d-ac96-7000-8000-000000000001";
const eventId = "01890a5d-ac96-7000-8000-000000000002";

function signed(
  provider: PaymentProvider,
  event: Record<string, unknown>,
  secret = SECRET,
  timestamp = Math.floor(Date.now() / 1000),
) {
  const payload = JSON.stringify({ object: "event", created: Math.floor(Date.now() / 1000), ...event });
  const header = signer.webhooks.generateTestHeaderString({ payload, secret, timestamp });
  return provider.decodeWebhook(Buffer.from(payload), { [provider.webhookHeaders[0]!]: header });
}

const session = (fields: Record<string, unknown> = {}) => ({
  id: "cs_test_1",
  object: "checkout.session",
  amount_total: 1999,
  currency: "JPY",
  payment_status: "paid",
  payment_intent: "pi_1",
  client_reference_id: bookingId,
  metadata: { bookingId, eventId },
  ...fields,
});

describe("the stripe adapter turns webhooks into neutral payment facts", () => {
  const provider = createStripeProvider({ secretKey: "sk_test_x", webhookSecret: SECRET });

  it("a paid checkout session is a succeeded fact naming our booking", () => {
    const fact = signed(provider, { id: "evt_1", type: "checkout.session.completed", data: { object: session() } });
    expect(fact).toMatchObject({
      provider: "stripe",
      providerEventId: "evt_1",
      kind: "succeeded",
      type: "checkout.session.completed",
      bookingId,
      eventId,
      amountMinor: 1999,
      currency: "jpy",
      paymentRef: "pi_1",
      checkoutRef: "cs_test_1",
    });
  });

  it("maps each payment event to its kind", () => {
    const kinds = [
      ["checkout.session.completed", session({ payment_status: "unpaid" }), "pending"],
      ["checkout.session.async_payment_succeeded", session(), "succeeded"],
      ["checkout.session.async_payment_failed", session({ payment_status: "unpaid" }), "failed"],
      ["checkout.session.expired", session({ payment_status: "unpaid" }), "expired"],
      [
        "payment_intent.payment_failed",
        { id: "pi_1", object: "payment_intent", amount: 1999, currency: "jpy", metadata: { bookingId, eventId } },
        "declined",
      ],
      [
        "charge.refunded",
        { id: "ch_1", object: "charge", amount_refunded: 500, currency: "jpy", payment_intent: "pi_1", metadata: {} },
        "refunded",
      ],
    ] as const;
    for (const [type, object, kind] of kinds) {
      expect(signed(provider, { id: `evt_${type}`, type, data: { object } }), type).toMatchObject({ kind, type });
    }
  });

  it("names no booking when the object carries no uuid of ours", () => {
    const fact = signed(provider, {
      id: "evt_2",
      type: "checkout.session.completed",
      data: { object: session({ client_reference_id: null, metadata: { bookingId: "order-7" } }) },
    });
    expect(fact).toMatchObject({ bookingId: null, eventId: null, kind: "succeeded" });
  });

  it("is null for a genuine event that states no payment", () => {
    expect(
      signed(provider, {
        id: "evt_3",
        type: "customer.created",
        data: { object: { id: "cus_1", object: "customer" } },
      }),
    ).toBeNull();
  });

  it("rejects a wrong signature or a missing header as WebhookRejected", () => {
    expect(() =>
      signed(provider, { id: "evt_4", type: "checkout.session.completed", data: { object: session() } }, "whsec_wrong"),
    ).toThrow(WebhookRejected);
    expect(() => provider.decodeWebhook(Buffer.from("{}"), {})).toThrow(WebhookRejected);
  });

  it("refuses a signature timestamp beyond the tolerance, in the past or in the future", () => {
    const event = { id: "evt_5", type: "checkout.session.completed", data: { object: session() } };
    const nowS = Math.floor(Date.now() / 1000);
    expect(() => signed(provider, event, SECRET, nowS - 301)).toThrow(WebhookRejected);
    expect(() => signed(provider, event, SECRET, nowS + 301)).toThrow(/future/);
    expect(() => signed(provider, event, SECRET, nowS + 3600 * 24 * 365)).toThrow(WebhookRejected);
    // Clocks a little apart still agree.
    expect(signed(provider, event, SECRET, nowS + 5)).toMatchObject({ kind: "succeeded" });
  });

  it("converts minor units to Stripe's units: its zero-decimal list, and its two-decimal ISK", () => {
    expect(toStripeAmount(1999, "jpy")).toBe(1999);
    expect(toStripeAmount(1999, "eur")).toBe(1999);
    expect(toStripeAmount(1230, "kwd")).toBe(1230);
    // ISO gives ISK no decimals; Stripe counts it in hundredths.
    expect(toStripeAmount(500, "isk")).toBe(50000);
    // ISO gives MGA two decimals; Stripe charges it as zero-decimal.
    expect(toStripeAmount(150000, "mga")).toBe(1500);
    expect(() => toStripeAmount(150050, "mga")).toThrow(/whole/);
    // Stripe charges three-decimal currencies in tens.
    expect(() => toStripeAmount(1234, "kwd")).toThrow(/10/);
    for (const [amount, currency] of [
      [1999, "jpy"],
      [500, "isk"],
      [150000, "mga"],
      [1230, "kwd"],
    ] as const) {
      expect(fromStripeAmount(toStripeAmount(amount, currency), currency)).toBe(amount);
    }
  });

  it("states a webhook's amount in ISO minor units", () => {
    const fact = signed(provider, {
      id: "evt_isk",
      type: "checkout.session.completed",
      data: { object: session({ currency: "isk", amount_total: 50000 }) },
    });
    expect(fact).toMatchObject({ amountMinor: 500, currency: "isk" });
  });
});

describe("the provider stays behind its interface", () => {
  it("no engine, jobs, http, sql or bin file but the Stripe adapter imports the stripe SDK", () => {
    const importers = ["engine", "jobs", "http", "sql", "bin", "search"]
      .flatMap((dir) => readdirSync(dir, { recursive: true, encoding: "utf8" }).map((file) => join(dir, file)))
      .filter((file) => file.endsWith(".ts") && /from "stripe"/.test(readFileSync(file, "utf8")));
    expect(importers).toEqual([join("engine", "payments", "stripe.ts")]);
  });
});
