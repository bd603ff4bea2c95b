import { randomBytes } from "node:crypto";
import Stripe from "stripe";
import type { Logger } from "../engine/logger.js";
import type { Reply, RouteSpec } from "./exchange.js";
import { escapeHtml, page } from "./pages.js";

// A mock payment gateway that speaks the subset of Stripe's HTTP API the engine calls
// (create and retrieve Checkout Sessions), hosts a checkout page, and sends webhooks signed
// exactly as Stripe signs them. The real `stripe` SDK talks to it over HTTP.

export interface MockGatewayOptions {
  /** Where webhooks go. */
  webhookUrl: string;
  webhookSecret: string;
  /** Base URL of the gateway itself, for hosted checkout links. */
  publicUrl: () => string;
  log: Logger;
}

interface Session {
  id: string;
  object: "checkout.session";
  url: string;
  mode: string;
  status: "open" | "complete" | "expired";
  payment_status: "unpaid" | "paid";
  amount_total: number;
  currency: string;
  client_reference_id: string | null;
  metadata: Record<string, string>;
  payment_intent: string;
  success_url: string;
  cancel_url: string;
  expires_at: number;
  created: number;
  line_items_name: string;
  quantity: number;
}

/** Sessions kept at most; the oldest go first. */
const SESSIONS_MAX = 100_000;
const DELIVERY_ATTEMPTS = 5;
const DELIVERY_FIRST_BACKOFF_MS = 200;

const CHECKOUT_CLOSED: Reply = { status: 409, html: page("Checkout closed", "<p>This checkout cannot be paid.</p>") };

const randomId = (prefix: string) => `${prefix}_${randomBytes(12).toString("hex")}`;

function stripeError(status: number, message: string, param?: string): Reply {
  return { status, json: { error: { type: "invalid_request_error", message, param } } };
}

export function mockGatewayRoutes(options: MockGatewayOptions): RouteSpec[] {
  const sessions = new Map<string, Session>();
  const byIdempotencyKey = new Map<string, string>();
  const signer = new Stripe("sk_test_mock_signer");

  const remember = (session: Session, idempotencyKey: string) => {
    if (sessions.size >= SESSIONS_MAX) {
      const oldest = sessions.keys().next().value!;
      sessions.delete(oldest);
    }
    sessions.set(session.id, session);
    if (idempotencyKey !== "") byIdempotencyKey.set(idempotencyKey, session.id);
  };

  const deliver = async (type: string, object: unknown): Promise<void> => {
    const event = {
      id: randomId("evt"),
      object: "event",
      api_version: "2025-08-27.basil",
      created: Math.floor(Date.now() / 1000),
      type,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: { object },
    };
    const payload = JSON.stringify(event);
    for (let attempt = 0; attempt < DELIVERY_ATTEMPTS; attempt++) {
      // Signed per attempt, as Stripe does, so the timestamp stays fresh.
      const signature = signer.webhooks.generateTestHeaderString({ payload, secret: options.webhookSecret });
      try {
        const response = await fetch(options.webhookUrl, {
          method: "POST",
          headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
          body: payload,
        });
        if (response.ok) return;
        options.log.warn({ type, status: response.status, attempt }, "webhook delivery refused; retrying");
      } catch (error) {
        options.log.warn({ type, err: error, attempt }, "webhook delivery failed; retrying");
      }
      await new Promise((resolve) => setTimeout(resolve, DELIVERY_FIRST_BACKOFF_MS * 2 ** attempt));
    }
    options.log.error({ type, eventId: event.id }, "webhook not delivered; giving up");
  };

  const openSession = (id: string): Session | null => {
    const session = sessions.get(id);
    return session !== undefined && session.status === "open" ? session : null;
  };

  const authorized = (header: string) => /^Bearer sk_(test|live)_\S+$/.test(header);

  return [
    {
      method: "post",
      pattern: "/v1/checkout/sessions",
      name: "mock.sessions.create",
      headers: ["authorization", "idempotency-key"],
      bodyLimit: 64 * 1024,
      handler({ headers, body }): Reply {
        if (!authorized(headers.authorization!)) return stripeError(401, "Invalid API Key provided.");
        const idempotencyKey = headers["idempotency-key"]!;
        const prior = byIdempotencyKey.get(idempotencyKey);
        if (prior !== undefined && sessions.has(prior)) return { status: 200, json: sessions.get(prior) };
        const form = new URLSearchParams(body.toString("utf8"));
        const quantity = Number(form.get("line_items[0][quantity]"));
        const unitAmount = Number(form.get("line_items[0][price_data][unit_amount]"));
        const currency = form.get("line_items[0][price_data][currency]") ?? "";
        const successUrl = form.get("success_url") ?? "";
        if (!Number.isSafeInteger(quantity) || quantity < 1) return stripeError(400, "Invalid quantity.", "line_items[0][quantity]");
        if (!Number.isSafeInteger(unitAmount) || unitAmount < 0) return stripeError(400, "Invalid unit_amount.", "line_items[0][price_data][unit_amount]");
        if (!/^[a-z]{3}$/.test(currency)) return stripeError(400, "Invalid currency.", "line_items[0][price_data][currency]");
        if (successUrl === "") return stripeError(400, "Missing required param: success_url.", "success_url");
        const metadata: Record<string, string> = {};
        for (const [key, value] of form) {
          const match = /^metadata\[(\w+)\]$/.exec(key);
          if (match) metadata[match[1]!] = value;
        }
        const id = randomId("cs_test");
        const session: Session = {
          id,
          object: "checkout.session",
          url: `${options.publicUrl()}/checkout/${id}`,
          mode: form.get("mode") ?? "payment",
          status: "open",
          payment_status: "unpaid",
          amount_total: unitAmount * quantity,
          currency,
          client_reference_id: form.get("client_reference_id"),
          metadata,
          payment_intent: randomId("pi"),
          success_url: successUrl,
          cancel_url: form.get("cancel_url") ?? successUrl,
          expires_at: Number(form.get("expires_at") ?? Math.floor(Date.now() / 1000) + 86_400),
          created: Math.floor(Date.now() / 1000),
          line_items_name: form.get("line_items[0][price_data][product_data][name]") ?? "Tickets",
          quantity,
        };
        remember(session, idempotencyKey);
        return { status: 200, json: session };
      },
    },
    {
      method: "get",
      pattern: "/v1/checkout/sessions/:id",
      name: "mock.sessions.retrieve",
      headers: ["authorization"],
      handler({ headers, params }): Reply {
        if (!authorized(headers.authorization!)) return stripeError(401, "Invalid API Key provided.");
        const session = sessions.get(params[0]!);
        return session ? { status: 200, json: session } : stripeError(404, `No such checkout.session: '${params[0]}'`, "id");
      },
    },
    {
      method: "get",
      pattern: "/checkout/:id",
      name: "mock.checkout.page",
      handler({ params }): Reply {
        const session = sessions.get(params[0]!);
        if (!session) return { status: 404, html: page("Checkout not found", "<p>No such checkout session.</p>") };
        const amount = (session.amount_total / 100).toFixed(2);
        const actions =
          session.status === "open"
            ? `<form method="post" action="/checkout/${session.id}/pay"><button class="primary" id="pay">Pay ${amount} ${session.currency.toUpperCase()}</button></form>
<form method="post" action="/checkout/${session.id}/decline"><button id="decline">Decline card</button></form>`
            : `<p>This checkout is ${session.status}.</p>`;
        return {
          status: 200,
          html: page("Mock checkout", `<p>${escapeHtml(session.line_items_name)} × ${session.quantity}</p><p>Total: <strong>${amount} ${session.currency.toUpperCase()}</strong></p>${actions}`),
        };
      },
    },
    {
      method: "post",
      pattern: "/checkout/:id/pay",
      name: "mock.checkout.pay",
      bodyLimit: 1024,
      handler({ params }): Reply {
        const session = openSession(params[0]!);
        if (session === null) return CHECKOUT_CLOSED;
        session.status = "complete";
        session.payment_status = "paid";
        // Like Stripe: the browser goes back at once, the webhook follows on its own.
        void deliver("checkout.session.completed", { ...session });
        return { status: 303, headers: { Location: session.success_url } };
      },
    },
    {
      method: "post",
      pattern: "/checkout/:id/decline",
      name: "mock.checkout.decline",
      bodyLimit: 1024,
      handler({ params }): Reply {
        const session = openSession(params[0]!);
        if (session === null) return CHECKOUT_CLOSED;
        void deliver("payment_intent.payment_failed", {
          id: session.payment_intent,
          object: "payment_intent",
          amount: session.amount_total,
          currency: session.currency,
          status: "requires_payment_method",
          metadata: session.metadata,
          last_payment_error: { code: "card_declined", message: "Your card was declined." },
        });
        return { status: 303, headers: { Location: session.cancel_url } };
      },
    },
  ];
}
