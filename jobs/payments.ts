import type Stripe from "stripe";
import type { ConfirmOutcome, Engine } from "../engine/engine.js";
import { isUuid } from "../engine/ids.js";
import type { Logger } from "../engine/logger.js";
import { metrics } from "../engine/metrics.js";
import type { Pool } from "../sql/db.js";
import { sql } from "../sql/queries.js";

// Turns verified gateway events into booking changes. The payment fact is written to
// PostgreSQL first (idempotent on the provider's event id); only then does the engine
// change the booking, and only after both does the webhook get its 2xx. A crash in
// between leaves a 'received' row, and the gateway's redelivery finishes the job.

export type IngestOutcome = ConfirmOutcome | "released" | "unchanged" | "ignored" | "awaiting_payment";

interface BookingRef {
  bookingId: string;
  eventId: string;
}

function bookingRef(metadata: Stripe.Metadata | null | undefined, fallbackId?: string | null): BookingRef | null {
  const bookingId = metadata?.bookingId ?? fallbackId ?? "";
  const eventId = metadata?.eventId ?? "";
  return isUuid(bookingId) && isUuid(eventId) ? { bookingId, eventId } : null;
}

const PAYMENT_STATUS: Record<ConfirmOutcome, string> = {
  paid: "applied",
  late_paid: "late_applied",
  duplicate: "duplicate",
  refund: "refund_due",
  mismatch: "mismatch",
};

export class PaymentIngest {
  constructor(
    private readonly pool: Pool,
    private readonly engine: Engine,
    private readonly provider: string,
    private readonly log: Logger,
  ) {}

  async handle(event: Stripe.Event): Promise<IngestOutcome> {
    switch (event.type) {
      case "checkout.session.completed":
      case "checkout.session.async_payment_succeeded":
        return this.completed(event, event.data.object);
      case "checkout.session.expired":
        return this.released(event, event.data.object, "checkout_expired");
      case "checkout.session.async_payment_failed":
        return this.released(event, event.data.object, "payment_failed");
      case "payment_intent.payment_failed": {
        const intent = event.data.object;
        const ref = bookingRef(intent.metadata);
        if (ref === null) return this.ignored(event);
        await this.record(event, ref, intent.id, intent.amount, intent.currency);
        return this.release(event, ref, "payment_failed");
      }
      default:
        return this.ignored(event);
    }
  }

  private async completed(event: Stripe.Event, session: Stripe.Checkout.Session): Promise<IngestOutcome> {
    const ref = bookingRef(session.metadata, session.client_reference_id);
    if (ref === null) return this.ignored(event);
    const amount = session.amount_total ?? 0;
    const currency = session.currency ?? "";
    await this.record(event, ref, session.id, amount, currency);
    // Bank debits and the like complete the session unpaid; async_payment_succeeded follows.
    if (session.payment_status !== "paid") {
      await this.pool.query(sql.setPaymentStatus, [event.id, "awaiting_payment"]);
      return "awaiting_payment";
    }
    const booking = await this.engine.confirm(ref.eventId, ref.bookingId, session.id, amount, currency);
    await this.pool.query(sql.setPaymentStatus, [event.id, PAYMENT_STATUS[booking.kind]]);
    metrics.payments.inc({ outcome: booking.kind });
    if (booking.kind === "mismatch" || booking.kind === "refund") {
      this.log.warn({ bookingId: ref.bookingId, eventId: event.id, outcome: booking.kind, amount, currency }, "payment not applied");
    }
    return booking.kind;
  }

  private async released(
    event: Stripe.Event,
    session: Stripe.Checkout.Session,
    reason: "payment_failed" | "checkout_expired",
  ): Promise<IngestOutcome> {
    const ref = bookingRef(session.metadata, session.client_reference_id);
    if (ref === null) return this.ignored(event);
    await this.record(event, ref, session.id, session.amount_total ?? 0, session.currency ?? "");
    return this.release(event, ref, reason);
  }

  private async release(event: Stripe.Event, ref: BookingRef, reason: "payment_failed" | "checkout_expired") {
    const booking = await this.engine.release(ref.eventId, ref.bookingId, reason);
    const outcome = booking.kind === "cancelled" ? "released" : "unchanged";
    await this.pool.query(sql.setPaymentStatus, [event.id, outcome]);
    metrics.payments.inc({ outcome });
    return outcome;
  }

  private async record(event: Stripe.Event, ref: BookingRef, providerRef: string, amount: number, currency: string) {
    await this.pool.query(sql.insertPayment, [
      ref.bookingId, ref.eventId, this.provider, event.id, providerRef, event.type, amount, currency.toLowerCase(),
    ]);
  }

  private ignored(event: Stripe.Event): IngestOutcome {
    this.log.info({ eventId: event.id, type: event.type }, "webhook ignored");
    metrics.payments.inc({ outcome: "ignored" });
    return "ignored";
  }
}
