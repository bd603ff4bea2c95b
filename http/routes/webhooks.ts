import { metrics } from "../../engine/metrics.js";
import type { RouteSpec } from "../exchange.js";
import { problems } from "../problems.js";
import type { HttpDeps } from "../server.js";

// POST /webhooks/stripe: the only proof of payment. The signature is checked on the raw
// bytes; the answer is 2xx only once the payment fact is durable in PostgreSQL.

/** Stripe's events can be far larger than our own request bodies. */
export const WEBHOOK_BODY_BYTES = 512 * 1024;

export function webhookRoutes(deps: HttpDeps): RouteSpec[] {
  const { provider, ingest, log } = deps;
  return [
    {
      method: "post",
      pattern: "/webhooks/stripe",
      name: "webhooks.stripe",
      auth: "none",
      headers: ["stripe-signature"],
      bodyLimit: WEBHOOK_BODY_BYTES,
      async handler({ body, headers }) {
        let event;
        try {
          event = provider.verifyWebhook(body, headers["stripe-signature"]!);
        } catch (error) {
          metrics.payments.inc({ outcome: "signature_rejected" });
          throw problems.invalidSignature((error as Error).message);
        }
        try {
          const outcome = await ingest.handle(event);
          return { status: 200, json: { received: true, outcome } };
        } catch (error) {
          // 5xx makes the gateway deliver again; every step of ingest is idempotent.
          log.error({ err: error, eventId: event.id, type: event.type }, "webhook not processed");
          throw problems.unavailable("The payment could not be recorded now; deliver it again.");
        }
      },
    },
  ];
}
