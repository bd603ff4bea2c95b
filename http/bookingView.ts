import type { Booking } from "../engine/engine.js";

// A booking as the API and the live channel show it.

export function bookingView(booking: Booking, publicUrl: string, nowMs: number): Record<string, unknown> {
  // A hold past its end reads as expired even before a script has reclaimed it.
  const status = booking.status === "held" && booking.expiresAtMs <= nowMs ? "expired" : booking.status;
  const view: Record<string, unknown> = {
    id: booking.id,
    eventId: booking.eventId,
    userId: booking.userId,
    quantity: booking.quantity,
    status,
    amount: booking.amount,
    currency: booking.currency,
  };
  if (status === "waiting") view.position = booking.position;
  if (status === "held") {
    view.expiresAt = new Date(booking.expiresAtMs).toISOString();
    view.paymentUrl = paymentUrl(publicUrl, booking);
  }
  if (booking.reason !== "") view.reason = booking.reason;
  return view;
}

function paymentUrl(publicUrl: string, booking: Booking): string {
  return `${publicUrl}/pay/${booking.id}?token=${encodeURIComponent(booking.token)}`;
}
