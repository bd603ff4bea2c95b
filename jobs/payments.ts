import type PgBoss from "pg-boss";
import type Stripe from "stripe";
import type { ConfirmOutcome, Engine } from "../engine/engine.js";
import { EngineError } from "../engine/errors.js";
import { isUuid } from "../engine/ids.js";
import type { Logger } from "../engine/logger.js";
import { metrics } from "../engine/metrics.js";
import { inTransaction, type Pool, type PoolClient } from "../sql/db.js";
import { sql } from "../sql/queries.js";
import { QUEUES, sendIn } from "./queues.js";

// Turns verified gateway events into booking changes. Each event becomes a payment fact,
// written to PostgreSQL first (idempotent on the provider's event id); only then does the
// engine change the booking, under the fact's row lock, and only after both does the
// webhook get its 2xx. A crash in between leaves a 'received' row: the gateway's
// redelivery, or `repairStale`, applies it. The engine's scripts are idempotent per
// payment, so applying a fact whose settle was lost changes nothing twice.

export type IngestOutcome =
  | ConfirmOutcome
  | "released"
  | "unchanged"
  | "ignored"
  | "awaiting_payment"
  | "replayed"
  | "refund_confirmed"
  | "refund_external";

/** What a fact asks of the engine. */
type Action = "confirm" | "await" | "release" | "refund_notice";

interface PaymentFact {
  providerEventId: string;
  kind: string;
  action: Action;
  bookingId: string;
  eventId: string;
  /** The checkout session, or the payment intent for events about the charge. */
  providerRef: string;
  paymentIntent: string | null;
  /** Minor units. */
  amount: number;
  currency: string;
}

/** The status a payment row ends in for each outcome; refund_due rows have a refund job. */
const STATUS_OF: Record<Exclude<IngestOutcome, "replayed" | "ignored">, string> = {
  paid: "applied",
  late_paid: "late_applied",
  duplicate: "duplicate",
  refund: "refund_due",
  mismatch: "mismatch",
  released: "released",
  unchanged: "unchanged",
  awaiting_payment: "awaiting_payment",
  refund_confirmed: "refund_confirmed",
  refund_external: "refund_external",
};

/** Why a refund is owed, kept with the refund at the provider. */
const REFUND_REASONS: Partial<Record<IngestOutcome, string>> = {
  refund: "not_applicable_to_booking",
  mismatch: "amount_or_currency_mismatch",
};

function idOf(value: string | { id: string } | null | undefined): string | null {
  return typeof value === "string" ? value : (value?.id ?? null);
}

/** Reads the booking a gateway object names; null when it names none of ours. */
function bookingOf(metadata: Stripe.Metadata | null | undefined, fallbackId?: string | null) {
  const bookingId = metadata?.bookingId ?? fallbackId ?? "";
  const eventId = metadata?.eventId ?? "";
  return isUuid(bookingId) && isUuid(eventId) ? { bookingId, eventId } : null;
}

function factOf(event: Stripe.Event): PaymentFact | null {
  const base = { providerEventId: event.id, kind: event.type };
  switch (event.type) {
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded":
    case "checkout.session.expired":
    case "checkout.session.async_payment_failed": {
      const session = event.data.object;
      const ref = bookingOf(session.metadata, session.client_reference_id);
      if (ref === null) return null;
      // Bank debits and the like complete the session unpaid; async_payment_succeeded follows.
      const action: Action =
        event.type === "checkout.session.expired" || event.type === "checkout.session.async_payment_failed"
          ? "release"
          : session.payment_status === "paid"
            ? "confirm"
            : "await";
      return {
        ...base, ...ref, action, providerRef: session.id, paymentIntent: idOf(session.payment_intent),
        amount: session.amount_total ?? 0, currency: session.currency ?? "",
      };
    }
    case "payment_intent.payment_failed": {
      const intent = event.data.object;
      const ref = bookingOf(intent.metadata);
      if (ref === null) return null;
      return { ...base, ...ref, action: "release", providerRef: intent.id, paymentIntent: intent.id, amount: intent.amount, currency: intent.currency };
    }
    case "charge.refunded": {
      const charge = event.data.object;
      const ref = bookingOf(charge.metadata);
      const intent = idOf(charge.payment_intent);
      if (ref === null || intent === null) return null;
      return { ...base, ...ref, action: "refund_notice", providerRef: intent, paymentIntent: intent, amount: charge.amount_refunded, currency: charge.currency };
    }
    default:
      return null;
  }
}

interface StoredFact {
  id: string;
  booking_id: string;
  event_id: string;
  provider_event_id: string;
  provider_ref: string;
  kind: string;
  action: Action;
  payment_intent: string | null;
  amount: number;
  currency: string;
  status: string;
}

const factOfRow = (row: StoredFact): PaymentFact => ({
  providerEventId: row.provider_event_id,
  kind: row.kind,
  action: row.action,
  bookingId: row.booking_id,
  eventId: row.event_id,
  providerRef: row.provider_ref,
  paymentIntent: row.payment_intent,
  amount: row.amount,
  currency: row.currency,
});

export class PaymentIngest {
  constructor(
    private readonly pool: Pool,
    private readonly engine: Engine,
    private readonly boss: PgBoss,
    private readonly provider: string,
    private readonly log: Logger,
  ) {}

  async handle(event: Stripe.Event): Promise<IngestOutcome> {
    const fact = factOf(event);
    if (fact === null) {
      this.log.info({ eventId: event.id, type: event.type }, "webhook ignored");
      return this.count("ignored");
    }
    await this.pool.query(sql.recordPayment, [
      fact.bookingId, fact.eventId, this.provider, fact.providerEventId, fact.providerRef, fact.kind,
      fact.action, fact.paymentIntent, fact.amount, fact.currency.toLowerCase(),
    ]);
    return this.applyRecorded(fact.providerEventId);
  }

  /** Applies facts left 'received' for longer than `olderThanMs`; returns how many it looked at. */
  async repairStale(olderThanMs: number, max: number): Promise<number> {
    const { rows } = await this.pool.query<{ provider_event_id: string }>(sql.staleReceivedPayments, [olderThanMs, max]);
    for (const row of rows) {
      const outcome = await this.applyRecorded(row.provider_event_id);
      this.log.warn({ providerEventId: row.provider_event_id, outcome }, "payment fact repaired");
    }
    return rows.length;
  }

  /** Applies a recorded fact once: under its row lock, and only while it is still 'received'. */
  private applyRecorded(providerEventId: string): Promise<IngestOutcome> {
    return inTransaction(this.pool, async (client) => {
      const row = (await client.query<StoredFact>(sql.lockPayment, [providerEventId])).rows[0];
      if (row === undefined) throw new Error(`payment fact ${providerEventId} vanished`);
      if (row.status !== "received") return this.count("replayed");
      const outcome = await this.apply(client, factOfRow(row));
      await client.query(sql.settlePayment, [row.id, STATUS_OF[outcome]]);
      const reason = REFUND_REASONS[outcome];
      if (reason !== undefined) await sendIn(this.boss, client, QUEUES.refund.name, { paymentId: row.id, reason });
      return this.count(outcome);
    });
  }

  private async apply(client: PoolClient, fact: PaymentFact): Promise<Exclude<IngestOutcome, "replayed" | "ignored">> {
    switch (fact.action) {
      case "await":
        return "awaiting_payment";
      case "release": {
        const reason = fact.kind === "checkout.session.expired" ? "checkout_expired" : "payment_failed";
        const booking = await this.engine.release(fact.eventId, fact.bookingId, reason);
        return booking.kind === "cancelled" ? "released" : "unchanged";
      }
      case "refund_notice": {
        const ours = (await client.query(sql.refundIssuedFor, [fact.paymentIntent])).rowCount !== 0;
        if (!ours) this.log.warn({ paymentIntent: fact.paymentIntent, bookingId: fact.bookingId }, "refund made outside the engine; booking unchanged");
        return ours ? "refund_confirmed" : "refund_external";
      }
      case "confirm":
        return this.confirm(client, fact);
    }
  }

  private async confirm(client: PoolClient, fact: PaymentFact): Promise<ConfirmOutcome> {
    let outcome: ConfirmOutcome;
    try {
      const booking = await this.engine.confirm(fact.eventId, fact.bookingId, fact.providerRef, fact.amount, fact.currency.toLowerCase());
      outcome = booking.kind;
    } catch (error) {
      if (!(error instanceof EngineError) || error.code !== "BOOKING_NOT_FOUND") throw error;
      // The booking has aged out of Redis (or never existed): money for it goes back,
      // unless this very payment is what paid it.
      const paidByThis = (await client.query(sql.bookingPaidBy, [fact.bookingId, fact.providerRef])).rowCount !== 0;
      outcome = paidByThis ? "duplicate" : "refund";
    }
    if (outcome === "mismatch" || outcome === "refund") {
      this.log.warn({ bookingId: fact.bookingId, providerEventId: fact.providerEventId, outcome, amount: fact.amount, currency: fact.currency }, "payment not applied");
    }
    return outcome;
  }

  private count(outcome: IngestOutcome): IngestOutcome {
    metrics.payments.inc({ outcome });
    return outcome;
  }
}
