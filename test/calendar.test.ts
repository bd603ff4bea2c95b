import ICAL from "ical.js";
import { describe, expect, it } from "vitest";
import { icsFor, type BookingForMail } from "../jobs/messages.js";

// The confirmation's calendar: text that cannot break out of its property, a UTC DTSTAMP,
// and a METHOD that matches the attachment's `method=PUBLISH`.

const booking: BookingForMail = {
  bookingId: "0190a000-0000-7000-8000-000000000001",
  status: "paid",
  quantity: 2,
  amount: 9000,
  currency: "eur",
  expiresAt: null,
  reason: "",
  payUrl: "",
  recipient: "a@example.com",
  eventId: "0190a000-0000-7000-8000-000000000002",
  eventName: "Night\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:Injected; a, b\\",
  venue: "Hall",
  startsAt: new Date("2027-06-01T18:00:00Z"),
  timeZone: "Europe/Paris",
};

describe("the confirmation's .ics", () => {
  const text = icsFor(booking);
  const calendar = new ICAL.Component(ICAL.parse(text));

  it("keeps a hostile event name inside its properties", () => {
    expect(calendar.getAllSubcomponents("vevent")).toHaveLength(1);
    expect(text).not.toMatch(/^SUMMARY:Injected/m);
    // RFC 5545 TEXT escaping, on the wire (ical.js leaves these two properties unescaped).
    const escaped = String.raw`Night\nEND:VEVENT\nBEGIN:VEVENT\nSUMMARY:Injected\; a\, b\\`;
    expect(text).toContain(`\r\nX-WR-CALNAME:${escaped}\r\n`);
    expect(text).toContain(`\r\nNAME:${escaped}\r\n`);
  });

  it("stamps in UTC and says METHOD:PUBLISH", () => {
    expect(text).toMatch(/^DTSTAMP:\d{8}T\d{6}Z\r$/m);
    expect(calendar.getFirstPropertyValue("method")).toBe("PUBLISH");
  });
});
