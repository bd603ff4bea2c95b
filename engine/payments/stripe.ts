import Stripe from "stripe";
import { isUuid } from "../ids.js";
import { minorDigits } from "../money.js";
import {
  WebhookRejected,
  type CheckoutRequest,
  type PaymentFact,
  type PaymentFactKind,
  type PaymentProvider,
} from "./provider.js";

// The Stripe adapter: Checkout Sessions, refunds and signed webhooks through the `stripe`
// SDK. With an endpoint it talks to the mock gateway (gateway/) instead of Stripe, so tests
// and the demo run the code path production runs. A session carries our booking in
// client_reference_id and metadata.bookingId, and its event in metadata.eventId.

export interface StripeOptions {
  secretKey: string;
  webhookSecret: string;
  /** Where the API is, when not at Stripe (the mock gateway). */
  endpoint?: { host: string; port: number; protocol: "http" | "https" };
}

// Stripe wants a Checkout Session to live at least 30 minutes; a payment completed after the
// hold ended is handled as a late payment.
const STRIPE_MIN_SESSION_MS = 30 * 60 * 1000;
const SIGNATURE_HEADER = "stripe-signature";
/** How far a webhook's signed timestamp may be from our clock, either way (Stripe's default). */
const WEBHOOK_TOLERANCE_S = 300;

// Stripe counts most currencies in hundredths; these it counts whole, these in thousandths
// (charged in tens). ISK, whole in ISO 4217, it counts in hundredths.
const STRIPE_ZERO_DECIMAL = new Set([
  "BIF",
  "CLP",
  "DJF",
  "GNF",
  "JPY",
  "KMF",
  "KRW",
  "MGA",
  "PYG",
  "RWF",
  "UGX",
  "VND",
  "VUV",
  "XAF",
  "XOF",
  "XPF",
]);
const STRIPE_THREE_DECIMAL = new Set(["BHD", "JOD", "KWD", "OMR", "TND"]);

/** Powers of ten between Stripe's unit of a currency and its ISO 4217 minor unit. */
function stripeShift(currency: string): number {
  const code = currency.toUpperCase();
  const stripeDigits = STRIPE_ZERO_DECIMAL.has(code) ? 0 : STRIPE_THREE_DECIMAL.has(code) ? 3 : 2;
  return stripeDigits - minorDigits(code);
}

/** An amount in ISO minor units as Stripe takes it; throws if Stripe cannot charge it exactly. */
export function toStripeAmount(amountMinor: number, currency: string): number {
  const shift = stripeShift(currency);
  const divisor = 10 ** Math.max(0, -shift);
  if (amountMinor % divisor !== 0)
    throw new RangeError(`${amountMinor} ${currency} minor units is no whole amount in Stripe's units`);
  const amount = (amountMinor / divisor) * 10 ** Math.max(0, shift);
  if (STRIPE_THREE_DECIMAL.has(currency.toUpperCase()) && amount % 10 !== 0) {
    throw new RangeError(`Stripe charges ${currency.toUpperCase()} in multiples of 10 minor units, not ${amount}`);
  }
  return amount;
}

/** An amount Stripe states, in ISO minor units. */
export function fromStripeAmount(amount: number, currency: string): number {
  const shift = stripeShift(currency);
  return shift >= 0 ? Math.round(amount / 10 ** shift) : amount * 10 ** -shift;
}

type Metadata = Stripe.Metadata | null | undefined;

const idOf = (value: string | { id: string } | null | undefined): string | null =>
  typeof value === "string" ? value : (value?.id ?? null);

/** Our booking and event as the object names them; a value that is no uuid is none of ours. */
function bookingOf(metadata: Metadata, clientReferenceId?: string | null) {
  const bookingId = metadata?.bookingId ?? clientReferenceId ?? "";
  const eventId = metadata?.eventId ?? "";
  return { bookingId: isUuid(bookingId) ? bookingId : null, eventId: isUuid(eventId) ? eventId : null };
}

const SESSION_KINDS: Partial<Record<Stripe.Event.Type, PaymentFactKind>> = {
  "checkout.session.completed": "succeeded",
  "checkout.session.async_payment_succeeded": "succeeded",
  "checkout.session.async_payment_failed": "failed",
  "checkout.session.expired": "expired",
};

/** The neutral fact a verified Stripe event states; null for events that are no payment fact. */
function stripeFactOf(event: Stripe.Event): PaymentFact | null {
  const base = { provider: "stripe", providerEventId: event.id, type: event.type, raw: event };
  switch (event.type) {
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded":
    case "checkout.session.async_payment_failed":
    case "checkout.session.expired": {
      const session = event.data.object;
      let kind = SESSION_KINDS[event.type]!;
      // Bank debits and the like complete the session unpaid; async_payment_succeeded follows.
      if (kind === "succeeded" && session.payment_status !== "paid") kind = "pending";
      const currency = (session.currency ?? "").toLowerCase();
      return {
        ...base,
        ...bookingOf(session.metadata, session.client_reference_id),
        kind,
        amountMinor: fromStripeAmount(session.amount_total ?? 0, currency),
        currency,
        paymentRef: idOf(session.payment_intent),
        checkoutRef: session.id,
      };
    }
    case "payment_intent.payment_failed": {
      const intent = event.data.object;
      return {
        ...base,
        ...bookingOf(intent.metadata),
        kind: "declined",
        amountMinor: fromStripeAmount(intent.amount, intent.currency),
        currency: intent.currency.toLowerCase(),
        paymentRef: intent.id,
        checkoutRef: intent.id,
      };
    }
    case "charge.refunded": {
      const charge = event.data.object;
      const intent = idOf(charge.payment_intent);
      return {
        ...base,
        ...bookingOf(charge.metadata),
        kind: "refunded",
        amountMinor: fromStripeAmount(charge.amount_refunded, charge.currency),
        currency: charge.currency.toLowerCase(),
        paymentRef: intent,
        checkoutRef: intent ?? charge.id,
      };
    }
    default:
      return null;
  }
}

const isInvalidRequest = (error: unknown): error is Stripe.errors.StripeInvalidRequestError =>
  error instanceof Stripe.errors.StripeInvalidRequestError;

/** A Checkout Session for one hold, carrying our booking in client_reference_id and metadata. */
function sessionParams(request: CheckoutRequest): Stripe.Checkout.SessionCreateParams {
  const metadata = { bookingId: request.bookingId, eventId: request.eventId, userId: request.userId };
  return {
    mode: "payment",
    line_items: [
      {
        quantity: request.quantity,
        price_data: {
          currency: request.currency,
          unit_amount: toStripeAmount(request.amountMinor / request.quantity, request.currency),
          product_data: { name: request.eventName },
        },
      },
    ],
    client_reference_id: request.bookingId,
    metadata,
    payment_intent_data: { metadata },
    success_url: request.successUrl,
    cancel_url: request.cancelUrl,
    expires_at: Math.ceil((request.holdExpiresAtMs + STRIPE_MIN_SESSION_MS) / 1000),
  };
}

/** The event a webhook carries, once its signature and timestamp are checked; throws WebhookRejected. */
function verifiedEvent(stripe: Stripe, rawBody: Buffer, header: string, secret: string): Stripe.Event {
  let event: Stripe.Event;
  try {
    // The SDK refuses a timestamp older than the tolerance, and not one in the future.
    event = stripe.webhooks.constructEvent(rawBody, header, secret, WEBHOOK_TOLERANCE_S);
  } catch (error) {
    throw new WebhookRejected((error as Error).message);
  }
  const signedAtS = Number(/(?:^|,)t=(\d+)/.exec(header)?.[1]);
  if (!(signedAtS <= Date.now() / 1000 + WEBHOOK_TOLERANCE_S)) {
    throw new WebhookRejected(
      `Timestamp ${signedAtS} is in the future, beyond the tolerance of ${WEBHOOK_TOLERANCE_S} s`,
    );
  }
  return event;
}

export function createStripeProvider(options: StripeOptions): PaymentProvider {
  const stripe = new Stripe(options.secretKey, { maxNetworkRetries: 2, timeout: 10_000, ...options.endpoint });

  return {
    name: "stripe",
    webhookHeaders: [SIGNATURE_HEADER],

    async createCheckout(request) {
      // One session per hold: opening the payment link twice reuses it.
      const idempotencyKey = `checkout:${request.bookingId}:${request.holdExpiresAtMs}`;
      const session = await stripe.checkout.sessions.create(sessionParams(request), { idempotencyKey });
      if (!session.url) throw new Error(`checkout session ${session.id} has no url`);
      return { id: session.id, url: session.url };
    },

    async paymentRefOf(checkoutRef) {
      const session = await stripe.checkout.sessions.retrieve(checkoutRef);
      return idOf(session.payment_intent);
    },

    async refund(request) {
      try {
        const refund = await stripe.refunds.create(
          {
            payment_intent: request.paymentRef,
            amount: toStripeAmount(request.amountMinor, request.currency),
            metadata: { bookingId: request.bookingId ?? "", reason: request.reason },
          },
          { idempotencyKey: request.idempotencyKey },
        );
        return { id: refund.id, status: refund.status ?? "pending" };
      } catch (error) {
        // Refunded before under an idempotency key that has since expired (Stripe keeps them 24 h).
        if (isInvalidRequest(error) && error.code === "charge_already_refunded")
          return { id: "already_refunded", status: "succeeded" };
        throw error;
      }
    },

    async expireCheckout(checkoutRef) {
      try {
        await stripe.checkout.sessions.expire(checkoutRef);
        return true;
      } catch (error) {
        if (isInvalidRequest(error) && error.statusCode === 400) return false;
        throw error;
      }
    },

    decodeWebhook(rawBody, headers) {
      return stripeFactOf(verifiedEvent(stripe, rawBody, headers[SIGNATURE_HEADER] ?? "", options.webhookSecret));
    },
  };
}
