import type { Reply, RouteSpec } from "../http/exchange.js";
import type { WebhookDelivery } from "./delivery.js";
import { knobsOf, type SessionFlows } from "./flows.js";
import { nowSeconds, randomId, type Session, type SessionStore } from "./store.js";

// The subset of Stripe's HTTP API the engine calls: create, retrieve and expire Checkout
// Sessions, create refunds, list events. Form-encoded in, JSON out, errors as Stripe's.

const EVENTS_PAGE_MAX = 100;
const API_BODY_BYTES = 64 * 1024;

export interface ApiDeps {
  store: SessionStore;
  flows: SessionFlows;
  delivery: WebhookDelivery;
  /** The one secret key the API takes. */
  apiKey: string;
  /** Base URL of the gateway itself, for hosted checkout links. */
  publicUrl: () => string;
}

export function stripeError(status: number, message: string, param?: string, code?: string): Reply {
  return { status, json: { error: { type: "invalid_request_error", message, param, code } } };
}

/** `metadata[key]=value` form fields, as the SDK encodes them. */
function metadataOf(form: URLSearchParams): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [key, value] of form) {
    const match = /^metadata\[(\w+)\]$/.exec(key);
    if (match) metadata[match[1]!] = value;
  }
  return metadata;
}

function createSession(deps: ApiDeps, form: URLSearchParams): Reply {
  const quantity = Number(form.get("line_items[0][quantity]"));
  const unitAmount = Number(form.get("line_items[0][price_data][unit_amount]"));
  const currency = form.get("line_items[0][price_data][currency]") ?? "";
  const successUrl = form.get("success_url") ?? "";
  if (!Number.isSafeInteger(quantity) || quantity < 1)
    return stripeError(400, "Invalid quantity.", "line_items[0][quantity]");
  if (!Number.isSafeInteger(unitAmount) || unitAmount < 0)
    return stripeError(400, "Invalid unit_amount.", "line_items[0][price_data][unit_amount]");
  if (!/^[a-z]{3}$/.test(currency)) return stripeError(400, "Invalid currency.", "line_items[0][price_data][currency]");
  if (successUrl === "") return stripeError(400, "Missing required param: success_url.", "success_url");
  const id = randomId("cs_test");
  const session: Session = {
    id,
    object: "checkout.session",
    url: `${deps.publicUrl()}/checkout/${id}`,
    mode: form.get("mode") ?? "payment",
    status: "open",
    payment_status: "unpaid",
    amount_total: unitAmount * quantity,
    currency,
    client_reference_id: form.get("client_reference_id"),
    metadata: metadataOf(form),
    payment_intent: randomId("pi"),
    success_url: successUrl,
    cancel_url: form.get("cancel_url") ?? successUrl,
    expires_at: Number(form.get("expires_at") ?? nowSeconds() + 86_400),
    created: nowSeconds(),
    line_items_name: form.get("line_items[0][price_data][product_data][name]") ?? "Tickets",
    quantity,
    amount_refunded: 0,
  };
  deps.store.remember(session);
  return { status: 200, json: session };
}

function createRefund(deps: ApiDeps, form: URLSearchParams): Reply {
  const intent = form.get("payment_intent") ?? "";
  const session = deps.store.byIntent(intent);
  if (session === undefined)
    return stripeError(404, `No such payment_intent: '${intent}'`, "payment_intent", "resource_missing");
  if (session.payment_status !== "paid")
    return stripeError(400, "This PaymentIntent has no successful charge to refund.", "payment_intent");
  const left = session.amount_total - session.amount_refunded;
  if (left === 0)
    return stripeError(400, `Charge for ${intent} has already been refunded.`, undefined, "charge_already_refunded");
  const amount = form.has("amount") ? Number(form.get("amount")) : left;
  if (!Number.isSafeInteger(amount) || amount < 1 || amount > left) {
    return stripeError(400, `Refund amount must be between 1 and ${left}.`, "amount", "amount_too_large");
  }
  session.amount_refunded += amount;
  const refund = {
    id: randomId("re"),
    object: "refund",
    amount,
    currency: session.currency,
    payment_intent: intent,
    metadata: metadataOf(form),
    status: "succeeded",
    created: nowSeconds(),
  };
  deps.delivery.deliver("charge.refunded", {
    id: `ch_${intent.slice(3)}`,
    object: "charge",
    amount: session.amount_total,
    amount_refunded: session.amount_refunded,
    currency: session.currency,
    payment_intent: intent,
    refunded: session.amount_refunded === session.amount_total,
    metadata: session.metadata,
  });
  return { status: 200, json: refund };
}

function listEvents(delivery: WebhookDelivery, query: URLSearchParams): Reply {
  const events = delivery.events;
  const limit = Math.min(Math.max(Number(query.get("limit") ?? 10) || 10, 1), EVENTS_PAGE_MAX);
  const type = query.get("type");
  const after = query.get("starting_after");
  // Newest first, as Stripe lists them.
  let start = events.length - 1;
  if (after !== null) start = events.map((event) => event.id).lastIndexOf(after) - 1;
  const data = [];
  let index = start;
  for (; index >= 0 && data.length < limit; index--) {
    const event = events[index]!;
    if (type === null || event.type === type) data.push(event);
  }
  return { status: 200, json: { object: "list", url: "/v1/events", has_more: index >= 0, data } };
}

/** Replays the first answer to an Idempotency-Key, as Stripe does. */
function idempotent(store: SessionStore, scope: string, key: string, create: () => Reply): Reply {
  const prior = store.idempotent(scope, key);
  if (prior !== undefined) return { status: 200, json: prior };
  const reply = create();
  if (reply.status === 200) store.rememberAnswer(scope, key, reply.json);
  return reply;
}

export function apiRoutes(deps: ApiDeps): RouteSpec[] {
  /** A route that needs the secret key, as every Stripe API call does. */
  const api = (spec: Omit<RouteSpec, "headers"> & { headers?: string[] }): RouteSpec => ({
    ...spec,
    headers: ["authorization", ...(spec.headers ?? [])],
    handler: (input) =>
      input.headers.authorization === `Bearer ${deps.apiKey}`
        ? spec.handler(input)
        : stripeError(401, "Invalid API Key provided."),
  });
  const form = (body: Buffer) => new URLSearchParams(body.toString("utf8"));
  return [
    api({
      method: "post",
      pattern: "/v1/checkout/sessions",
      name: "mock.sessions.create",
      auth: "none",
      headers: ["idempotency-key"],
      bodyLimit: API_BODY_BYTES,
      handler: ({ headers, body }) =>
        idempotent(deps.store, "session", headers["idempotency-key"]!, () => createSession(deps, form(body))),
    }),
    api({
      method: "get",
      pattern: "/v1/checkout/sessions/:id",
      name: "mock.sessions.retrieve",
      auth: "none",
      handler({ params }): Reply {
        const session = deps.store.get(params[0]!);
        return session
          ? { status: 200, json: session }
          : stripeError(404, `No such checkout.session: '${params[0]}'`, "id", "resource_missing");
      },
    }),
    api({
      method: "post",
      pattern: "/v1/checkout/sessions/:id/expire",
      name: "mock.sessions.expire",
      auth: "none",
      bodyLimit: API_BODY_BYTES,
      handler({ params, query }): Reply {
        const session = deps.store.open(params[0]!);
        if (session === null)
          return stripeError(400, "Only Checkout Sessions with a status in [open] can be expired.", "session");
        deps.flows.expire(session, knobsOf(query));
        return { status: 200, json: session };
      },
    }),
    api({
      method: "post",
      pattern: "/v1/refunds",
      name: "mock.refunds.create",
      auth: "none",
      headers: ["idempotency-key"],
      bodyLimit: API_BODY_BYTES,
      handler: ({ headers, body }) =>
        idempotent(deps.store, "refund", headers["idempotency-key"]!, () => createRefund(deps, form(body))),
    }),
    api({
      method: "get",
      pattern: "/v1/events",
      name: "mock.events.list",
      auth: "none",
      handler: ({ query }) => listEvents(deps.delivery, query),
    }),
  ];
}
