import type { DeliveryKnobs, Timers, WebhookDelivery } from "./delivery.js";
import { nowSeconds, type Session } from "./store.js";

// What happens to a Checkout Session, and the webhooks each step sends: paid (at once, or
// a bank debit that settles later), a declined attempt, expired.
//
// Test knobs, as query parameters on every action (the checkout page passes its own on):
//   duplicates=N  deliver the same event N times at once, as Stripe may
//   delayMs=M     deliver it M ms late, so deliveries can land out of order or after a hold
//   async=succeed|fail  (pay) a bank-debit-like payment: the session completes unpaid, and
//                 checkout.session.async_payment_succeeded or _failed follows settleMs later

export interface Knobs extends DeliveryKnobs {
  async: "succeed" | "fail" | null;
  settleMs: number;
}

const DUPLICATES_MAX = 20;
const DELAY_MAX_MS = 10 * 60 * 1000;
const SETTLE_DEFAULT_MS = 1000;

/** Reads the test knobs; out-of-range values are clamped, so a knob can never hang the gateway. */
export function knobsOf(query: URLSearchParams): Knobs {
  const number = (name: string, max: number, fallback: number) => {
    const value = Number(query.get(name) ?? fallback);
    return Number.isFinite(value) ? Math.min(Math.max(Math.trunc(value), 0), max) : fallback;
  };
  const async = query.get("async");
  return {
    duplicates: Math.max(1, number("duplicates", DUPLICATES_MAX, 1)),
    delayMs: number("delayMs", DELAY_MAX_MS, 0),
    async: async === "succeed" || async === "fail" ? async : null,
    settleMs: number("settleMs", DELAY_MAX_MS, SETTLE_DEFAULT_MS),
  };
}

export class SessionFlows {
  constructor(
    private readonly delivery: WebhookDelivery,
    private readonly timers: Timers,
  ) {}

  complete(session: Session, amountPaid: number, knobs: Knobs): void {
    session.status = "complete";
    session.amount_total = amountPaid;
    if (knobs.async === null) {
      session.payment_status = "paid";
      this.delivery.deliver("checkout.session.completed", session, knobs);
      return;
    }
    this.delivery.deliver("checkout.session.completed", session, knobs);
    const outcome = knobs.async;
    this.timers.later(knobs.delayMs + knobs.settleMs, () => {
      if (outcome === "succeed") session.payment_status = "paid";
      const type = `checkout.session.async_payment_${outcome === "succeed" ? "succeeded" : "failed"}`;
      this.delivery.deliver(type, session, { ...knobs, delayMs: 0 });
    });
  }

  /** A card refused: the session stays open, so the person may try another card, as on Stripe. */
  decline(session: Session, knobs: Knobs): void {
    this.delivery.deliver(
      "payment_intent.payment_failed",
      {
        id: session.payment_intent,
        object: "payment_intent",
        amount: session.amount_total,
        currency: session.currency,
        status: "requires_payment_method",
        metadata: session.metadata,
        last_payment_error: { code: "card_declined", message: "Your card was declined." },
      },
      knobs,
    );
  }

  expire(session: Session, knobs?: Knobs): void {
    session.status = "expired";
    this.delivery.deliver("checkout.session.expired", session, knobs);
  }

  /** Expires the open sessions whose expires_at has passed. */
  expireDue(sessions: Iterable<Session>): void {
    const now = nowSeconds();
    for (const session of sessions) if (session.status === "open" && session.expires_at <= now) this.expire(session);
  }
}
