import type { Booking } from "../engine/engine.js";
import { STATE } from "../engine/schema.js";

// A booking as the API and the live channel show it.

export function bookingView(booking: Booking, publicUrl: string, nowMs: number): Record<string, unknown> {
  // A hold past its end reads as expired even before a script has reclaimed it.
  const status = booking.status === STATE.held && booking.expiresAtMs <= nowMs ? STATE.expired : booking.status;
  const view: Record<string, unknown> = {
    id: booking.id,
    eventId: booking.eventId,
    userId: booking.userId,
    quantity: booking.quantity,
    status,
    amount: booking.amount,
    currency: booking.currency,
  };
  if (status === STATE.waiting) view.position = booking.position;
  if (status === STATE.held) {
    view.expiresAt = new Date(booking.expiresAtMs).toISOString();
    view.paymentUrl = paymentUrl(publicUrl, booking);
  }
  if (booking.reason !== "") view.reason = booking.reason;
  return view;
}

function paymentUrl(publicUrl: string, booking: Booking): string {
  return `${publicUrl}/pay/${booking.id}?token=${encodeURIComponent(booking.token)}`;
}
