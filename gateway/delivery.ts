import Stripe from "stripe";
import type { Logger } from "../engine/logger.js";
import { nowSeconds, randomId } from "./store.js";

// Webhook delivery, as Stripe does it: each event signed per attempt (so its timestamp stays
// fresh), retried with backoff on non-2xx, and kept for GET /v1/events. The test knobs can
// deliver an event several times at once or late.

/** Delivered events kept for GET /v1/events. */
const EVENTS_MAX = 10_000;
const DELIVERY_ATTEMPTS = 5;
const DELIVERY_FIRST_BACKOFF_MS = 200;

export interface DeliveryKnobs {
  /** Copies of the event delivered at once. */
  duplicates: number;
  /** How late the event is delivered. */
  delayMs: number;
}

export interface GatewayEvent {
  id: string;
  type: string;
  created: number;
  data: { object: unknown };
}

/** Timers the gateway owns, all cleared when it stops. */
export class Timers {
  private readonly pending = new Set<NodeJS.Timeout>();

  later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      fn();
    }, ms);
    this.pending.add(timer);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve));
  }

  clear(): void {
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
  }
}

export class WebhookDelivery {
  /** Oldest first. */
  readonly events: GatewayEvent[] = [];
  private readonly signer = new Stripe("sk_test_mock_signer");

  constructor(
    private readonly webhookUrl: string,
    private readonly webhookSecret: string,
    private readonly timers: Timers,
    private readonly log: Logger,
  ) {}

  /** Records an event about a copy of `object` now, and delivers it per the knobs. */
  deliver(type: string, object: unknown, knobs: DeliveryKnobs = { duplicates: 1, delayMs: 0 }): void {
    const event = {
      id: randomId("evt"),
      object: "event",
      api_version: "2025-08-27.basil",
      created: nowSeconds(),
      type,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: { object: structuredClone(object) },
    };
    if (this.events.length >= EVENTS_MAX) this.events.shift();
    this.events.push(event);
    const payload = JSON.stringify(event);
    this.timers.later(knobs.delayMs, () => {
      for (let copy = 0; copy < knobs.duplicates; copy++) void this.deliverOnce(payload, type, event.id);
    });
  }

  private async deliverOnce(payload: string, type: string, eventId: string): Promise<void> {
    for (let attempt = 0; attempt < DELIVERY_ATTEMPTS; attempt++) {
      if (await this.post(payload, type, attempt)) return;
      await this.timers.sleep(DELIVERY_FIRST_BACKOFF_MS * 2 ** attempt);
    }
    this.log.error({ type, eventId }, "webhook not delivered; giving up");
  }

  private async post(payload: string, type: string, attempt: number): Promise<boolean> {
    const signature = this.signer.webhooks.generateTestHeaderString({ payload, secret: this.webhookSecret });
    try {
      const response = await fetch(this.webhookUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
        body: payload,
      });
      if (response.ok) return true;
      this.log.warn({ type, status: response.status, attempt }, "webhook delivery refused; retrying");
    } catch (error) {
      this.log.warn({ type, err: error, attempt }, "webhook delivery failed; retrying");
    }
    return false;
  }
}
