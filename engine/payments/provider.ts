// What the engine asks of a payment provider, in its own words. An adapter (one file in this
// folder) speaks one provider's API; nothing outside the adapter names the provider's types.

/** What a webhook tells about a payment, whatever the provider. */
export type PaymentFactKind =
  /** The money is taken: the booking may be confirmed. */
  | "succeeded"
  /** The checkout is complete but the money is still on its way (a bank debit). */
  | "pending"
  /** A payment that was under way failed for good (a bank debit bounced). */
  | "failed"
  /** One attempt failed (a declined card); the checkout stays open for another. */
  | "declined"
  /** The checkout closed unpaid. */
  | "expired"
  /** Money went back to the payer. */
  | "refunded";

export interface PaymentFact {
  /** The adapter's name, as in the webhook route (/webhooks/<provider>). */
  provider: string;
  /** Unique per provider: a redelivered webhook carries the same id. */
  providerEventId: string;
  kind: PaymentFactKind;
  /** The provider's own name for what happened, kept for operators. */
  type: string;
  /** Our booking, when the provider's object names one (a uuid), else null. */
  bookingId: string | null;
  eventId: string | null;
  /** In the currency's minor units (ISO 4217 exponent). */
  amountMinor: number;
  /** Lower-case ISO 4217 code. */
  currency: string;
  /** The charge a refund names; null when the webhook did not carry it. */
  paymentRef: string | null;
  /** The checkout the payment went through, or the charge for facts about a charge. */
  checkoutRef: string;
  /** The webhook's parsed body, as the provider sent it. */
  raw: unknown;
}

export interface CheckoutRequest {
  bookingId: string;
  eventId: string;
  userId: string;
  eventName: string;
  quantity: number;
  amountMinor: number;
  currency: string;
  holdExpiresAtMs: number;
  successUrl: string;
  cancelUrl: string;
}

interface Checkout {
  id: string;
  url: string;
}

interface RefundRequest {
  paymentRef: string;
  amountMinor: number;
  currency: string;
  /** The same key for the same payment, so a retried job never refunds twice. */
  idempotencyKey: string;
  bookingId: string | null;
  reason: string;
}

interface Refund {
  id: string;
  status: string;
}

/** A webhook whose signature, timestamp or body is not the provider's: answered 400. */
export class WebhookRejected extends Error {
  override readonly name = "WebhookRejected";
}

export interface PaymentProvider {
  /** Names the webhook route and the facts' provider column. */
  readonly name: string;
  /** Request headers the adapter reads to verify a webhook (lower case). */
  readonly webhookHeaders: readonly string[];
  createCheckout(request: CheckoutRequest): Promise<Checkout>;
  /** The charge of a checkout, for payments whose webhook did not carry it. */
  paymentRefOf(checkoutRef: string): Promise<string | null>;
  refund(request: RefundRequest): Promise<Refund>;
  /** Closes an open checkout; false if it was no longer open (paid, or expired before). */
  expireCheckout(checkoutRef: string): Promise<boolean>;
  /**
   * Checks a webhook's signature and timestamp on the raw body and decodes it; throws
   * WebhookRejected if either is wrong. Null for a genuine webhook that is no payment fact.
   */
  decodeWebhook(rawBody: Buffer, headers: Record<string, string>): PaymentFact | null;
}
