import type { Logger } from "../engine/logger.js";
import type { RouteSpec } from "../http/exchange.js";
import { apiRoutes } from "./api.js";
import { checkoutRoutes } from "./checkoutPage.js";
import { Timers, WebhookDelivery } from "./delivery.js";
import { SessionFlows } from "./flows.js";
import { SessionStore } from "./store.js";

// A mock payment gateway, a program of its own: it speaks the subset of Stripe's HTTP API
// the engine calls (api.ts), hosts a checkout page (checkoutPage.ts), expires sessions at
// their `expires_at`, and sends webhooks signed exactly as Stripe signs them (delivery.ts).
// The engine's real `stripe` SDK talks to it over HTTP.

export interface MockGatewayOptions {
  /** Where webhooks go. */
  webhookUrl: string;
  webhookSecret: string;
  /** The one secret key its API takes. */
  apiKey: string;
  /** Base URL of the gateway itself, for hosted checkout links. */
  publicUrl: () => string;
  log: Logger;
}

export interface MockGateway {
  routes: RouteSpec[];
  stop(): void;
}

const EXPIRY_CHECK_MS = 1000;

export function createMockGateway(options: MockGatewayOptions): MockGateway {
  const store = new SessionStore();
  const timers = new Timers();
  const delivery = new WebhookDelivery(options.webhookUrl, options.webhookSecret, timers, options.log);
  const flows = new SessionFlows(delivery, timers);
  const expiryTimer = setInterval(() => flows.expireDue(store.all()), EXPIRY_CHECK_MS);
  expiryTimer.unref();
  return {
    routes: [
      ...apiRoutes({ store, flows, delivery, apiKey: options.apiKey, publicUrl: options.publicUrl }),
      ...checkoutRoutes(store, flows),
    ],
    stop() {
      clearInterval(expiryTimer);
      timers.clear();
    },
  };
}
