import Stripe from "stripe";
import type { Config } from "./config.js";

// The payment provider. One implementation, the `stripe` SDK; PAYMENT_PROVIDER=mock points
// that same SDK at the mock gateway (http/mockGateway.ts), so tests and the demo run the
// code path production runs.

export interface CheckoutRequest {
  bookingId: string;
  eventId: string;
  userId: string;
  eventName: string;
  quantity: number;
  /** Total in minor units. */
  amount: number;
  currency: string;
  holdExpiresAtMs: number;
  successUrl: string;
  cancelUrl: string;
}

export interface Checkout {
  id: string;
  url: string;
}

export interface RefundRequest {
  /** The charge to refund (a Checkout Session's payment_intent). */
  paymentIntent: string;
  /** Minor units. */
  amount: number;
  /** The same key for the same payment, so a retried job never refunds twice. */
  idempotencyKey: string;
  bookingId: string;
  reason: string;
}

export interface Refund {
  id: string;
  status: string;
}

export interface PaymentProvider {
  readonly name: "stripe" | "mock";
  createCheckout(request: CheckoutRequest): Promise<Checkout>;
  /** The payment_intent of a Checkout Session, for payments whose webhook did not carry it. */
  paymentIntentOf(checkoutId: string): Promise<string | null>;
  refund(request: RefundRequest): Promise<Refund>;
  /** Closes an open Checkout Session; false if it was no longer open (paid, or expired before). */
  expireCheckout(checkoutId: string): Promise<boolean>;
  /** Parses a webhook after checking its signature and timestamp on the raw body; throws if either is wrong. */
  verifyWebhook(rawBody: Buffer, signature: string): Stripe.Event;
}

// Stripe wants a Checkout Session to live at least 30 minutes; a payment completed after the
// hold ended is handled as a late payment (lua/confirm.lua).
const STRIPE_MIN_SESSION_MS = 30 * 60 * 1000;

export function createPaymentProvider(config: Config): PaymentProvider {
  const mockOptions =
    config.paymentProvider === "mock"
      ? { host: "127.0.0.1", port: config.mockGatewayPort, protocol: "http" as const }
      : {};
  const stripe = new Stripe(config.stripeSecretKey, { maxNetworkRetries: 2, timeout: 10_000, ...mockOptions });

  return {
    name: config.paymentProvider,

    async createCheckout(request) {
      const metadata = { bookingId: request.bookingId, eventId: request.eventId, userId: request.userId };
      const session = await stripe.checkout.sessions.create(
        {
          mode: "payment",
          line_items: [
            {
              quantity: request.quantity,
              price_data: {
                currency: request.currency,
                unit_amount: request.amount / request.quantity,
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
        },
        // One session per hold: opening the payment link twice reuses it.
        { idempotencyKey: `checkout:${request.bookingId}:${request.holdExpiresAtMs}` },
      );
      if (!session.url) throw new Error(`checkout session ${session.id} has no url`);
      return { id: session.id, url: session.url };
    },

    async paymentIntentOf(checkoutId) {
      const session = await stripe.checkout.sessions.retrieve(checkoutId);
      const intent = session.payment_intent;
      return typeof intent === "string" ? intent : (intent?.id ?? null);
    },

    async refund(request) {
      try {
        const refund = await stripe.refunds.create(
          {
            payment_intent: request.paymentIntent,
            amount: request.amount,
            metadata: { bookingId: request.bookingId, reason: request.reason },
          },
          { idempotencyKey: request.idempotencyKey },
        );
        return { id: refund.id, status: refund.status ?? "pending" };
      } catch (error) {
        // Refunded before under an idempotency key that has since expired (Stripe keeps them 24 h).
        if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === "charge_already_refunded") {
          return { id: "already_refunded", status: "succeeded" };
        }
        throw error;
      }
    },

    async expireCheckout(checkoutId) {
      try {
        await stripe.checkout.sessions.expire(checkoutId);
        return true;
      } catch (error) {
        if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 400) return false;
        throw error;
      }
    },

    verifyWebhook(rawBody, signature) {
      return stripe.webhooks.constructEvent(rawBody, signature, config.stripeWebhookSecret);
    },
  };
}
