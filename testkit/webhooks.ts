import Stripe from "stripe";

// Payment webhooks as Stripe sends them, for tests and the benchmark's mix: a completed
// Checkout Session for a booking, and its Stripe-Signature header.

const signer = new Stripe("sk_test_testkit_signer");

export interface PaidSession {
  /** The provider's event id; a redelivery repeats it. */
  id: string;
  bookingId: string;
  eventId: string;
  amount: number;
  currency?: string;
  sessionId?: string;
  paymentIntent?: string;
}

/** A provider event as the webhook body carries it. */
export type WebhookEvent = {
  id: string;
  object: "event";
  type: string;
  created: number;
  data: { object: Record<string, unknown> };
};

/** A checkout.session.completed event paying for the booking. */
export function checkoutCompleted(paid: PaidSession): WebhookEvent {
  return {
    id: paid.id,
    object: "event",
    type: "checkout.session.completed",
    created: Math.floor(Date.now() / 1000),
    data: {
      object: {
        id: paid.sessionId ?? `cs_test_${paid.bookingId}`,
        object: "checkout.session",
        amount_total: paid.amount,
        currency: paid.currency ?? "eur",
        payment_status: "paid",
        status: "complete",
        ...(paid.paymentIntent === undefined ? {} : { payment_intent: paid.paymentIntent }),
        client_reference_id: paid.bookingId,
        metadata: { bookingId: paid.bookingId, eventId: paid.eventId },
      },
    },
  };
}

/** The Stripe-Signature header of a payload, signed with the endpoint's secret. */
export function stripeSignature(payload: string, secret: string, timestampS?: number): string {
  return signer.webhooks.generateTestHeaderString(
    timestampS === undefined ? { payload, secret } : { payload, secret, timestamp: timestampS },
  );
}
