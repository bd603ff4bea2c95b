import { metrics } from "../../engine/metrics.js";
import { WebhookRejected } from "../../engine/payments/provider.js";
import type { RouteSpec } from "../exchange.js";
import { problems } from "../problems.js";
import type { HttpDeps } from "../deps.js";

// POST /webhooks/:provider: the only proof of payment. The provider's adapter checks the
// signature on the raw bytes and decodes a payment fact; the answer is 2xx only once the
// fact is durable in PostgreSQL.

/** Providers' events can be far larger than our own request bodies. */
const WEBHOOK_BODY_BYTES = 512 * 1024;

export function webhookRoutes(deps: HttpDeps): RouteSpec[] {
  const { provider, ingest, log } = deps;
  return [
    {
      method: "post",
      pattern: "/webhooks/:provider",
      name: "webhooks.receive",
      auth: "none",
      headers: provider.webhookHeaders,
      bodyLimit: WEBHOOK_BODY_BYTES,
      async handler({ params, body, headers }) {
        if (params[0] !== provider.name)
          throw problems.notFound(`No payment provider named ${JSON.stringify(params[0])} here.`);
        let fact: ReturnType<typeof provider.decodeWebhook>;
        try {
          fact = provider.decodeWebhook(body, headers);
        } catch (error) {
          if (!(error instanceof WebhookRejected)) throw error;
          metrics.payments.inc({ outcome: "signature_rejected" });
          throw problems.invalidSignature(error.message);
        }
        // A genuine event that states no payment (another kind of notification).
        if (fact === null) {
          metrics.payments.inc({ outcome: "ignored" });
          return { status: 200, json: { received: true, outcome: "ignored" } };
        }
        try {
          const outcome = await ingest.handle(fact);
          return { status: 200, json: { received: true, outcome } };
        } catch (error) {
          // 5xx makes the provider deliver again; every step of ingest is idempotent.
          log.error(
            { err: error, provider: fact.provider, providerEventId: fact.providerEventId, type: fact.type },
            "webhook not processed",
          );
          throw problems.unavailable("The payment could not be recorded now; deliver it again.");
        }
      },
    },
  ];
}
