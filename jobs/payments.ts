import type PgBoss from "pg-boss";
import type { ConfirmOutcome, Engine } from "../engine/engine.js";
import { EngineError } from "../engine/errors.js";
import type { Logger } from "../engine/logger.js";
import { metrics } from "../engine/metrics.js";
import { bookingKey, liveEventsKey } from "../engine/keys.js";
import type { PaymentFact, PaymentFactKind } from "../engine/payments/provider.js";
import { inTransaction, type Pool, type PoolClient } from "../sql/db.js";
import {
  bookingPaidBy,
  eventOfBooking,
  lockPayment,
  recordPayment,
  refundIssuedFor,
  setPaymentEvent,
  settlePayment,
  staleReceivedPayments,
  type PaymentAction,
  type StoredPayment,
} from "../sql/payments.js";
import { QUEUES, sendIn } from "./queues.js";

// Turns verified payment facts into booking changes. Each fact is written to PostgreSQL
// first (idempotent on provider and provider event id); only then does the engine change
// the booking, under the fact's row lock, and only after both does the webhook get its 2xx.
// A crash in between leaves a 'received' row: the provider's redelivery, or `repairStale`,
// applies it. The engine's scripts are idempotent per payment, so applying a fact whose
// settle was lost changes nothing twice.
//
// Every signed fact is kept. One that names our booking but not its event (a session made
// in the provider's dashboard, a payment link) is applied once the event is found; one that
// names no booking of ours is 'unmatched', and the money it took goes back.

export type IngestOutcome =
  | ConfirmOutcome
  | "released"
  | "unchanged"
  | "unmatched"
  | "declined"
  | "awaiting_payment"
  | "replayed"
  | "refund_confirmed"
  | "refund_external";

type Applied = Exclude<IngestOutcome, "replayed">;

const ACTION_OF: Record<PaymentFactKind, PaymentAction> = {
  succeeded: "confirm",
  pending: "await",
  failed: "release",
  // The checkout stays open for another card: the hold stays until it or the checkout ends.
  declined: "decline_notice",
  expired: "expire",
  refunded: "refund_notice",
};

/** The status a payment row ends in for each outcome; refund_due rows have a refund job. */
const STATUS_OF: Record<Applied, string> = {
  paid: "applied",
  late_paid: "late_applied",
  duplicate: "duplicate",
  refund: "refund_due",
  over_limit: "refund_due",
  mismatch: "mismatch",
  released: "released",
  unchanged: "unchanged",
  unmatched: "unmatched",
  declined: "declined",
  awaiting_payment: "awaiting_payment",
  refund_confirmed: "refund_confirmed",
  refund_external: "refund_external",
};

/** Why a refund is owed, kept with the refund at the provider. */
const REFUND_REASONS: Partial<Record<IngestOutcome, string>> = {
  refund: "not_applicable_to_booking",
  over_limit: "over_per_person_limit",
  mismatch: "amount_or_currency_mismatch",
  unmatched: "no_booking_of_ours",
};

/** Live events looked through at most for a booking named without its event, and how many per round trip. */
const LIVE_EVENTS_SCAN_MAX = 100_000;
const LIVE_EVENTS_SCAN_CHUNK = 1000;

interface BookingRef {
  bookingId: string;
  eventId: string;
}

export class PaymentIngest {
  constructor(
    private readonly pool: Pool,
    private readonly engine: Engine,
    private readonly boss: PgBoss,
    private readonly log: Logger,
  ) {}

  async handle(fact: PaymentFact): Promise<IngestOutcome> {
    await recordPayment(this.pool, { ...fact, action: ACTION_OF[fact.kind] });
    return this.applyRecorded(fact.provider, fact.providerEventId);
  }

  /** Applies facts left 'received' for longer than `olderThanMs`; returns how many it looked at. */
  async repairStale(olderThanMs: number, max: number): Promise<number> {
    const stale = await staleReceivedPayments(this.pool, olderThanMs, max);
    for (const { provider, providerEventId } of stale) {
      const outcome = await this.applyRecorded(provider, providerEventId);
      this.log.warn({ provider, providerEventId, outcome }, "payment fact repaired");
    }
    return stale.length;
  }

  /** Applies a recorded fact once: under its row lock, and only while it is still 'received'. */
  private applyRecorded(provider: string, providerEventId: string): Promise<IngestOutcome> {
    return inTransaction(this.pool, async (client) => {
      const payment = await lockPayment(client, provider, providerEventId);
      if (payment === null) throw new Error(`payment fact ${provider}/${providerEventId} vanished`);
      if (payment.status !== "received") return this.count("replayed");
      const outcome = await this.apply(client, payment);
      await settlePayment(client, payment.id, STATUS_OF[outcome]);
      // Only a payment that took money has any to give back.
      const reason = outcome === "unmatched" && payment.action !== "confirm" ? undefined : REFUND_REASONS[outcome];
      if (reason !== undefined) await sendIn(this.boss, client, QUEUES.refund.name, { paymentId: payment.id, reason });
      return this.count(outcome);
    });
  }

  private async apply(client: PoolClient, payment: StoredPayment): Promise<Applied> {
    if (payment.action === "refund_notice") {
      const ours = await refundIssuedFor(client, payment.paymentRef);
      if (!ours)
        this.log.warn(
          { paymentRef: payment.paymentRef, bookingId: payment.bookingId },
          "refund made outside the engine; booking unchanged",
        );
      return ours ? "refund_confirmed" : "refund_external";
    }
    const booking = await this.bookingOf(client, payment);
    if (booking === null) {
      this.log.warn(
        {
          provider: payment.provider,
          providerEventId: payment.providerEventId,
          type: payment.type,
          bookingId: payment.bookingId,
        },
        "payment names no booking of ours",
      );
      return "unmatched";
    }
    switch (payment.action) {
      case "await":
        return "awaiting_payment";
      case "decline_notice":
        return "declined";
      case "release":
      case "expire": {
        const reason = payment.action === "expire" ? "checkout_expired" : "payment_failed";
        const released = await this.engine.release(booking.eventId, booking.bookingId, reason);
        return released.kind === "cancelled" ? "released" : "unchanged";
      }
      case "confirm":
        return this.confirm(client, payment, booking);
    }
  }

  /** The booking a fact names, its event found when the fact did not carry it; null if none of ours. */
  private async bookingOf(client: PoolClient, payment: StoredPayment): Promise<BookingRef | null> {
    const { bookingId } = payment;
    if (bookingId === null) return null;
    if (payment.eventId !== null) return { bookingId, eventId: payment.eventId };
    const eventId = (await eventOfBooking(client, bookingId)) ?? (await this.liveEventOf(bookingId));
    if (eventId === null) return null;
    await setPaymentEvent(client, payment.id, eventId);
    return { bookingId, eventId };
  }

  /** The live event whose Redis keys hold the booking: one held moments ago is not in PostgreSQL yet. */
  private async liveEventOf(bookingId: string): Promise<string | null> {
    const { redis } = this.engine;
    const live = (await redis.smembers(liveEventsKey)).slice(0, LIVE_EVENTS_SCAN_MAX);
    for (let start = 0; start < live.length; start += LIVE_EVENTS_SCAN_CHUNK) {
      const chunk = live.slice(start, start + LIVE_EVENTS_SCAN_CHUNK);
      const found = await Promise.all(chunk.map((eventId) => redis.exists(bookingKey(eventId, bookingId))));
      const index = found.indexOf(1);
      if (index !== -1) return chunk[index]!;
    }
    return null;
  }

  private async confirm(
    client: PoolClient,
    payment: StoredPayment,
    { bookingId, eventId }: BookingRef,
  ): Promise<ConfirmOutcome> {
    let outcome: ConfirmOutcome;
    try {
      const booking = await this.engine.confirm(
        eventId,
        bookingId,
        payment.checkoutRef,
        payment.amountMinor,
        payment.currency,
      );
      outcome = booking.kind;
    } catch (error) {
      if (!(error instanceof EngineError) || error.code !== "BOOKING_NOT_FOUND") throw error;
      // The booking has aged out of Redis (or never existed): money for it goes back,
      // unless this very payment is what paid it.
      outcome = (await bookingPaidBy(client, bookingId, payment.checkoutRef)) ? "duplicate" : "refund";
    }
    if (outcome === "mismatch" || outcome === "refund" || outcome === "over_limit") {
      this.log.warn(
        {
          bookingId,
          providerEventId: payment.providerEventId,
          outcome,
          amountMinor: payment.amountMinor,
          currency: payment.currency,
        },
        "payment not applied",
      );
    }
    return outcome;
  }

  private count(outcome: IngestOutcome): IngestOutcome {
    metrics.payments.inc({ outcome });
    return outcome;
  }
}
