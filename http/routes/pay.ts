import type { Reply, RouteSpec } from "../exchange.js";
import { page, escapeHtml } from "../pages.js";
import type { HttpDeps } from "../deps.js";
import { recordCheckout, wasDeclined } from "../../sql/payments.js";

// GET /pay/:id opens checkout for a held booking (the session is created only when someone
// actually goes to pay, never on the hold path). GET /pay/:id/return is where the gateway
// sends the browser back: it shows "confirming" until the webhook has landed, because the
// redirect proves nothing. A declined card leaves the hold and the checkout open: the page
// the gateway sends the person back to says so and links to the same checkout again.

export function payRoutes(deps: HttpDeps): RouteSpec[] {
  const { engine, provider, config, pool } = deps;

  const notFound: Reply = {
    status: 404,
    html: page("Booking not found", "<p>This payment link does not name a booking.</p>"),
  };

  return [
    {
      method: "get",
      pattern: "/pay/:id",
      name: "pay.start",
      auth: "booking",
      bookingTokenIn: "query",
      refusal: notFound,
      async handler({ booking }): Promise<Reply> {
        if (booking === null) return notFound;
        if (booking.status !== "held" || booking.expiresAtMs <= Date.now()) {
          return {
            status: 409,
            html: page(
              "Nothing to pay",
              `<p>This booking is ${escapeHtml(booking.status === "held" ? "expired" : booking.status)}.</p>`,
            ),
          };
        }
        const live = await engine.liveEvent(booking.eventId);
        const back = `${config.http.publicUrl}/pay/${booking.id}/return?token=${encodeURIComponent(booking.token)}`;
        const checkout = await provider.createCheckout({
          bookingId: booking.id,
          eventId: booking.eventId,
          userId: booking.userId,
          eventName: live?.fields.name ?? "Tickets",
          quantity: booking.quantity,
          amountMinor: booking.amount,
          currency: booking.currency,
          holdExpiresAtMs: booking.expiresAtMs,
          successUrl: back,
          cancelUrl: `${back}&cancelled=1`,
        });
        // Remembered so the work role can close the session once the hold is over.
        await recordCheckout(pool, {
          id: checkout.id,
          bookingId: booking.id,
          eventId: booking.eventId,
          holdExpiresAtMs: booking.expiresAtMs,
        });
        return { status: 303, headers: { Location: checkout.url, "Referrer-Policy": "no-referrer" } };
      },
    },
    {
      method: "get",
      pattern: "/pay/:id/return",
      name: "pay.return",
      auth: "booking",
      bookingTokenIn: "query",
      refusal: notFound,
      async handler({ booking, query }): Promise<Reply> {
        if (booking === null) return notFound;
        const settled = booking.status !== "held";
        const declined = !settled && query.has("cancelled") && (await wasDeclined(pool, booking.id));
        const retry = `/pay/${booking.id}?token=${encodeURIComponent(booking.token)}`;
        const body = settled
          ? `<p id="status" data-status="${booking.status}">Your booking is <strong>${escapeHtml(booking.status)}</strong>.</p>`
          : declined
            ? `<p id="status" data-status="declined">Your card was declined. Your tickets are still held for you.</p><p><a href="${escapeHtml(retry)}">Try again</a></p>`
            : `<p id="status" data-status="confirming">Confirming your payment… this page refreshes by itself.</p>`;
        return {
          status: 200,
          html: page("Payment", body, settled || declined ? undefined : 2),
          headers: { "Referrer-Policy": "no-referrer", "Cache-Control": "no-store" },
        };
      },
    },
  ];
}
