import { randomBytes } from "node:crypto";
import Stripe from "stripe";
import type { Logger } from "../engine/logger.js";
import type { Reply, RouteSpec } from "./exchange.js";
import { escapeHtml, page } from "./pages.js";

// A mock payment gateway that speaks the subset of Stripe's HTTP API the engine calls
// (create, retrieve and expire Checkout Sessions, create refunds, list events), hosts a
// checkout page (Pay / Decline / Abandon), expires sessions at their `expires_at`, and sends
// webhooks signed exactly as Stripe signs them, retried with backoff on non-2xx. The real
// `stripe` SDK talks to it over HTTP.
//
// Test knobs, as query parameters on every action (the checkout page passes its own on):
//   duplicates=N  deliver the same event N times at once, as Stripe may
//   delayMs=M     deliver it M ms late, so deliveries can land out of order or after a hold
//   async=succeed|fail  (pay) a bank-debit-like payment: the session completes unpaid, and
//                 checkout.session.async_payment_succeeded or _failed follows settleMs later

export interface MockGatewayOptions {
  /** Where webhooks go. */
  webhookUrl: string;
  webhookSecret: string;
  /** Base URL of the gateway itself, for hosted checkout links. */
  publicUrl: () => string;
  log: Logger;
}

export interface MockGateway {
  routes: RouteSpec[];
  stop(): void;
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
  /** What the mock has refunded of this payment, in minor units. */
  amount_refunded: number;
}

interface Knobs {
  duplicates: number;
  delayMs: number;
  async: "succeed" | "fail" | null;
  settleMs: number;
}

/** Sessions kept at most; the oldest go first. */
const SESSIONS_MAX = 100_000;
/** Delivered events kept for GET /v1/events. */
const EVENTS_MAX = 10_000;
const EVENTS_PAGE_MAX = 100;
const DELIVERY_ATTEMPTS = 5;
const DELIVERY_FIRST_BACKOFF_MS = 200;
const DUPLICATES_MAX = 20;
const DELAY_MAX_MS = 10 * 60 * 1000;
const SETTLE_DEFAULT_MS = 1000;
const EXPIRY_CHECK_MS = 1000;
const API_BODY_BYTES = 64 * 1024;
const ACTION_BODY_BYTES = 4 * 1024;

const CHECKOUT_CLOSED: Reply = { status: 409, html: page("Checkout closed", "<p>This checkout cannot be paid.</p>") };

const randomId = (prefix: string) => `${prefix}_${randomBytes(12).toString("hex")}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

function stripeError(status: number, message: string, param?: string, code?: string): Reply {
  return { status, json: { error: { type: "invalid_request_error", message, param, code } } };
}

/** Reads the test knobs; out-of-range values are clamped, so a knob can never hang the gateway. */
function knobsOf(query: URLSearchParams): Knobs {
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

/** `metadata[key]=value` form fields, as the SDK encodes them. */
function metadataOf(form: URLSearchParams): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [key, value] of form) {
    const match = /^metadata\[(\w+)\]$/.exec(key);
    if (match) metadata[match[1]!] = value;
  }
  return metadata;
}

export function createMockGateway(options: MockGatewayOptions): MockGateway {
  const sessions = new Map<string, Session>();
  const sessionByIntent = new Map<string, string>();
  const byIdempotencyKey = new Map<string, unknown>();
  const events: { id: string; type: string; created: number; data: { object: unknown } }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const signer = new Stripe("sk_test_mock_signer");

  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const remember = (session: Session) => {
    if (sessions.size >= SESSIONS_MAX) {
      const oldest = sessions.values().next().value!;
      sessions.delete(oldest.id);
      sessionByIntent.delete(oldest.payment_intent);
    }
    sessions.set(session.id, session);
    sessionByIntent.set(session.payment_intent, session.id);
  };

  const post = async (payload: string, type: string, attempt: number): Promise<boolean> => {
    // Signed per attempt, as Stripe does, so the timestamp stays fresh.
    const signature = signer.webhooks.generateTestHeaderString({ payload, secret: options.webhookSecret });
    try {
      const response = await fetch(options.webhookUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
        body: payload,
      });
      if (response.ok) return true;
      options.log.warn({ type, status: response.status, attempt }, "webhook delivery refused; retrying");
    } catch (error) {
      options.log.warn({ type, err: error, attempt }, "webhook delivery failed; retrying");
    }
    return false;
  };

  const deliverOnce = async (payload: string, type: string, eventId: string) => {
    for (let attempt = 0; attempt < DELIVERY_ATTEMPTS; attempt++) {
      if (await post(payload, type, attempt)) return;
      await new Promise((resolve) => later(DELIVERY_FIRST_BACKOFF_MS * 2 ** attempt, () => resolve(undefined)));
    }
    options.log.error({ type, eventId }, "webhook not delivered; giving up");
  };

  const deliver = (type: string, object: unknown, knobs: Pick<Knobs, "duplicates" | "delayMs"> = { duplicates: 1, delayMs: 0 }) => {
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
    if (events.length >= EVENTS_MAX) events.shift();
    events.push(event);
    const payload = JSON.stringify(event);
    later(knobs.delayMs, () => {
      for (let copy = 0; copy < knobs.duplicates; copy++) void deliverOnce(payload, type, event.id);
    });
  };

  const openSession = (id: string): Session | null => {
    const session = sessions.get(id);
    return session !== undefined && session.status === "open" ? session : null;
  };

  const complete = (session: Session, amountPaid: number, knobs: Knobs): void => {
    session.status = "complete";
    session.amount_total = amountPaid;
    if (knobs.async === null) {
      session.payment_status = "paid";
      deliver("checkout.session.completed", session, knobs);
      return;
    }
    deliver("checkout.session.completed", session, knobs);
    const outcome = knobs.async;
    later(knobs.delayMs + knobs.settleMs, () => {
      if (outcome === "succeed") session.payment_status = "paid";
      deliver(`checkout.session.async_payment_${outcome === "succeed" ? "succeeded" : "failed"}`, session, { ...knobs, delayMs: 0 });
    });
  };

  const expire = (session: Session, knobs?: Knobs): void => {
    session.status = "expired";
    deliver("checkout.session.expired", session, knobs);
  };

  const expiryTimer = setInterval(() => {
    const now = nowSeconds();
    for (const session of sessions.values()) if (session.status === "open" && session.expires_at <= now) expire(session);
  }, EXPIRY_CHECK_MS);
  expiryTimer.unref();

  const authorized = (header: string) => /^Bearer sk_(test|live)_\S+$/.test(header);

  /** Replays the first answer to an Idempotency-Key, as Stripe does. */
  const idempotent = (scope: string, key: string, create: () => Reply): Reply => {
    const prior = key === "" ? undefined : byIdempotencyKey.get(`${scope}:${key}`);
    if (prior !== undefined) return { status: 200, json: prior };
    const reply = create();
    if (key !== "" && reply.status === 200) byIdempotencyKey.set(`${scope}:${key}`, reply.json);
    return reply;
  };

  const createSession = (form: URLSearchParams): Reply => {
    const quantity = Number(form.get("line_items[0][quantity]"));
    const unitAmount = Number(form.get("line_items[0][price_data][unit_amount]"));
    const currency = form.get("line_items[0][price_data][currency]") ?? "";
    const successUrl = form.get("success_url") ?? "";
    if (!Number.isSafeInteger(quantity) || quantity < 1) return stripeError(400, "Invalid quantity.", "line_items[0][quantity]");
    if (!Number.isSafeInteger(unitAmount) || unitAmount < 0) return stripeError(400, "Invalid unit_amount.", "line_items[0][price_data][unit_amount]");
    if (!/^[a-z]{3}$/.test(currency)) return stripeError(400, "Invalid currency.", "line_items[0][price_data][currency]");
    if (successUrl === "") return stripeError(400, "Missing required param: success_url.", "success_url");
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
    remember(session);
    return { status: 200, json: session };
  };

  const createRefund = (form: URLSearchParams): Reply => {
    const intent = form.get("payment_intent") ?? "";
    const session = sessions.get(sessionByIntent.get(intent) ?? "");
    if (session === undefined) return stripeError(404, `No such payment_intent: '${intent}'`, "payment_intent", "resource_missing");
    if (session.payment_status !== "paid") return stripeError(400, "This PaymentIntent has no successful charge to refund.", "payment_intent");
    const left = session.amount_total - session.amount_refunded;
    if (left === 0) return stripeError(400, `Charge for ${intent} has already been refunded.`, undefined, "charge_already_refunded");
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
    deliver("charge.refunded", {
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
  };

  const listEvents = (query: URLSearchParams): Reply => {
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
  };

  const checkoutPage = (session: Session, query: URLSearchParams): Reply => {
    const amount = (session.amount_total / 100).toFixed(2);
    const knobs = query.toString() === "" ? "" : `?${escapeHtml(query.toString())}`;
    const action = (name: string, label: string, extra = "") =>
      `<form method="post" action="/checkout/${session.id}/${name}${knobs}"><button id="${name}"${extra}>${label}</button></form>`;
    const actions =
      session.status === "open"
        ? action("pay", `Pay ${amount} ${session.currency.toUpperCase()}`, ' class="primary"') +
          action("decline", "Decline card") +
          action("abandon", "Abandon checkout")
        : `<p>This checkout is ${session.status}.</p>`;
    return {
      status: 200,
      html: page("Mock checkout", `<p>${escapeHtml(session.line_items_name)} × ${session.quantity}</p><p>Total: <strong>${amount} ${session.currency.toUpperCase()}</strong></p>${actions}`),
    };
  };

  /** A button on the hosted page: acts on an open session, then sends the browser where it returns. */
  const checkoutAction = (name: string, act: (session: Session, knobs: Knobs) => string): RouteSpec => ({
    method: "post",
    pattern: `/checkout/:id/${name}`,
    name: `mock.checkout.${name}`,
    auth: "none",
    bodyLimit: ACTION_BODY_BYTES,
    handler({ params, query }): Reply {
      const session = openSession(params[0]!);
      if (session === null) return CHECKOUT_CLOSED;
      return { status: 303, headers: { Location: act(session, knobsOf(query)) } };
    },
  });

  const api = (spec: Omit<RouteSpec, "headers"> & { headers?: string[] }): RouteSpec => ({
    ...spec,
    headers: ["authorization", ...(spec.headers ?? [])],
    handler: (input) => (authorized(input.headers.authorization!) ? spec.handler(input) : stripeError(401, "Invalid API Key provided.")),
  });

  const routes: RouteSpec[] = [
    api({
      method: "post",
      pattern: "/v1/checkout/sessions",
      name: "mock.sessions.create",
      auth: "none",
      headers: ["idempotency-key"],
      bodyLimit: API_BODY_BYTES,
      handler: ({ headers, body }) => idempotent("session", headers["idempotency-key"]!, () => createSession(new URLSearchParams(body.toString("utf8")))),
    }),
    api({
      method: "get",
      pattern: "/v1/checkout/sessions/:id",
      name: "mock.sessions.retrieve",
      auth: "none",
      handler({ params }): Reply {
        const session = sessions.get(params[0]!);
        return session ? { status: 200, json: session } : stripeError(404, `No such checkout.session: '${params[0]}'`, "id", "resource_missing");
      },
    }),
    api({
      method: "post",
      pattern: "/v1/checkout/sessions/:id/expire",
      name: "mock.sessions.expire",
      auth: "none",
      bodyLimit: API_BODY_BYTES,
      handler({ params, query }): Reply {
        const session = openSession(params[0]!);
        if (session === null) return stripeError(400, "Only Checkout Sessions with a status in [open] can be expired.", "session");
        expire(session, knobsOf(query));
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
      handler: ({ headers, body }) => idempotent("refund", headers["idempotency-key"]!, () => createRefund(new URLSearchParams(body.toString("utf8")))),
    }),
    api({
      method: "get",
      pattern: "/v1/events",
      name: "mock.events.list",
      auth: "none",
      handler: ({ query }) => listEvents(query),
    }),
    {
      method: "get",
      pattern: "/checkout/:id",
      name: "mock.checkout.page",
      auth: "none",
      handler({ params, query }): Reply {
        const session = sessions.get(params[0]!);
        if (!session) return { status: 404, html: page("Checkout not found", "<p>No such checkout session.</p>") };
        return checkoutPage(session, query);
      },
    },
    // Like Stripe: the browser goes back at once, the webhook follows on its own.
    checkoutAction("pay", (session, knobs) => {
      complete(session, session.amount_total, knobs);
      return session.success_url;
    }),
    checkoutAction("decline", (session, knobs) => {
      // The session stays open: the person may try another card, as on Stripe.
      deliver(
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
      return session.cancel_url;
    }),
    // Nothing is sent: the session stays open until its expires_at.
    checkoutAction("abandon", (session) => session.cancel_url),
    {
      // The seed's payment call: pays the person's open checkout for an event.
      method: "post",
      pattern: "/pay",
      name: "mock.pay",
      auth: "none",
      bodyLimit: ACTION_BODY_BYTES,
      handler({ body, query }): Reply {
        let input: { userId?: unknown; eventId?: unknown; amount?: unknown };
        try {
          input = JSON.parse(body.toString("utf8"));
        } catch {
          return stripeError(400, "Body must be JSON: { userId, eventId, amount }.");
        }
        if (typeof input !== "object" || input === null || typeof input.userId !== "string" || typeof input.eventId !== "string") {
          return stripeError(400, "userId and eventId must be strings.", "userId");
        }
        if (!Number.isSafeInteger(input.amount) || (input.amount as number) < 0) return stripeError(400, "amount must be a whole number of minor units.", "amount");
        let found: Session | null = null;
        for (const session of sessions.values()) {
          if (session.status === "open" && session.metadata.userId === input.userId && session.metadata.eventId === input.eventId) found = session;
        }
        if (found === null) return stripeError(404, "No open checkout for this user and event: open /pay/<bookingId> on the engine first.", "userId", "resource_missing");
        complete(found, input.amount as number, knobsOf(query));
        return { status: 200, json: { sessionId: found.id, paymentIntent: found.payment_intent, status: found.status, amount: found.amount_total } };
      },
    },
  ];

  return {
    routes,
    stop() {
      clearInterval(expiryTimer);
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
