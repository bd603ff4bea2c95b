import type { Reply, RouteSpec } from "../http/exchange.js";
import { formatMoney } from "../engine/money.js";
import { fromStripeAmount } from "../engine/payments/stripe.js";
import { escapeHtml, page } from "../http/pages.js";
import { stripeError } from "./api.js";
import { knobsOf, type Knobs, type SessionFlows } from "./flows.js";
import type { Session, SessionStore } from "./store.js";

// The hosted checkout page a person is sent to (Pay / Decline / Abandon), and the seed's
// POST /pay, which pays a person's open checkout for an event.

const ACTION_BODY_BYTES = 4 * 1024;

const CHECKOUT_CLOSED: Reply = { status: 409, html: page("Checkout closed", "<p>This checkout cannot be paid.</p>") };

function checkoutPage(session: Session, query: URLSearchParams): Reply {
  const amount = escapeHtml(formatMoney(fromStripeAmount(session.amount_total, session.currency), session.currency));
  const knobs = query.toString() === "" ? "" : `?${escapeHtml(query.toString())}`;
  const action = (name: string, label: string, extra = "") =>
    `<form method="post" action="/checkout/${session.id}/${name}${knobs}"><button id="${name}"${extra}>${label}</button></form>`;
  const actions =
    session.status === "open"
      ? action("pay", `Pay ${amount}`, ' class="primary"') +
        action("decline", "Decline card") +
        action("abandon", "Abandon checkout")
      : `<p>This checkout is ${session.status}.</p>`;
  return {
    status: 200,
    html: page(
      "Mock checkout",
      `<p>${escapeHtml(session.line_items_name)} × ${session.quantity}</p><p>Total: <strong>${amount}</strong></p>${actions}`,
    ),
  };
}

/** The seed's payment call: { userId, eventId, amount } pays the person's open checkout. */
function seedPay(store: SessionStore, flows: SessionFlows, body: Buffer, query: URLSearchParams): Reply {
  let input: { userId?: unknown; eventId?: unknown; amount?: unknown };
  try {
    input = JSON.parse(body.toString("utf8"));
  } catch {
    return stripeError(400, "Body must be JSON: { userId, eventId, amount }.");
  }
  if (
    typeof input !== "object" ||
    input === null ||
    typeof input.userId !== "string" ||
    typeof input.eventId !== "string"
  ) {
    return stripeError(400, "userId and eventId must be strings.", "userId");
  }
  if (!Number.isSafeInteger(input.amount) || (input.amount as number) < 0)
    return stripeError(400, "amount must be a whole number of minor units.", "amount");
  let found: Session | null = null;
  for (const session of store.all()) {
    if (
      session.status === "open" &&
      session.metadata.userId === input.userId &&
      session.metadata.eventId === input.eventId
    )
      found = session;
  }
  if (found === null)
    return stripeError(
      404,
      "No open checkout for this user and event: open /pay/<bookingId> on the engine first.",
      "userId",
      "resource_missing",
    );
  flows.complete(found, input.amount as number, knobsOf(query));
  return {
    status: 200,
    json: {
      sessionId: found.id,
      paymentIntent: found.payment_intent,
      status: found.status,
      amount: found.amount_total,
    },
  };
}

export function checkoutRoutes(store: SessionStore, flows: SessionFlows): RouteSpec[] {
  /** A button on the hosted page: acts on an open session, then sends the browser where it returns. */
  const checkoutAction = (name: string, act: (session: Session, knobs: Knobs) => string): RouteSpec => ({
    method: "post",
    pattern: `/checkout/:id/${name}`,
    name: `mock.checkout.${name}`,
    auth: "none",
    bodyLimit: ACTION_BODY_BYTES,
    handler({ params, query }): Reply {
      const session = store.open(params[0]!);
      if (session === null) return CHECKOUT_CLOSED;
      return { status: 303, headers: { Location: act(session, knobsOf(query)) } };
    },
  });

  return [
    {
      method: "get",
      pattern: "/checkout/:id",
      name: "mock.checkout.page",
      auth: "none",
      handler({ params, query }): Reply {
        const session = store.get(params[0]!);
        if (!session) return { status: 404, html: page("Checkout not found", "<p>No such checkout session.</p>") };
        return checkoutPage(session, query);
      },
    },
    // Like Stripe: the browser goes back at once, the webhook follows on its own.
    checkoutAction("pay", (session, knobs) => {
      flows.complete(session, session.amount_total, knobs);
      return session.success_url;
    }),
    checkoutAction("decline", (session, knobs) => {
      flows.decline(session, knobs);
      return session.cancel_url;
    }),
    // Nothing is sent: the session stays open until its expires_at.
    checkoutAction("abandon", (session) => session.cancel_url),
    {
      method: "post",
      pattern: "/pay",
      name: "mock.pay",
      auth: "none",
      bodyLimit: ACTION_BODY_BYTES,
      handler: ({ body, query }) => seedPay(store, flows, body, query),
    },
  ];
}
