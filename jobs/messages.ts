import { getVtimezoneComponent } from "@touch4it/ical-timezones";
import ical, { ICalCalendarMethod } from "ical-generator";
import { formatMoney } from "../engine/money.js";
import type { MailBooking } from "../sql/notifications.js";

// The emails the notify job sends, rendered from one booking and its event. Plain text with
// an HTML twin; the confirmation carries an .ics in the event's own time zone.

export type NotificationKind = "confirmation" | "your_turn" | "refund" | `reminder_${number}m`;

/** A booking's email: what PostgreSQL has of it, and the checkout link with its token while it is held. */
export interface BookingForMail extends MailBooking {
  payUrl: string;
}

export interface MailContent {
  subject: string;
  text: string;
  html: string;
  attachments: { filename: string; content: string; contentType: string }[];
}

/** Events have no end time in the model; calendars get this length. */
const EVENT_LENGTH_MS = 3 * 3_600_000;

export function reminderKind(offsetMs: number): NotificationKind {
  return `reminder_${Math.round(offsetMs / 60_000)}m`;
}

/** The event's start as people there read it, e.g. "Tuesday 1 June 2027, 20:00 (Europe/Paris)". */
function localTime(at: Date, timeZone: string): string {
  const text = new Intl.DateTimeFormat("en-GB", { timeZone, dateStyle: "full", timeStyle: "short" }).format(at);
  return `${text} (${timeZone})`;
}

function compactUtc(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

function googleCalendarUrl(b: BookingForMail): string {
  const end = new Date(b.startsAt.getTime() + EVENT_LENGTH_MS);
  const params = new URLSearchParams({
    action: "TEMPLATE",
    text: b.eventName,
    dates: `${compactUtc(b.startsAt)}/${compactUtc(end)}`,
    details: `Booking ${b.bookingId}: ${b.quantity} ticket(s)`,
    location: b.venue,
    ctz: b.timeZone,
  });
  return `https://calendar.google.com/calendar/render?${params}`;
}

/**
 * An instant whose local getters read the wall clock of one time zone. ical-generator writes
 * `DTSTART;TZID=zone:` from a native Date's local getters, i.e. the process's zone; it takes
 * this shape (date-fns's TZDate) to write the event's own wall time instead.
 */
class ZonedDate extends Date {
  readonly internal: Date;
  private readonly wall: Record<string, number>;

  constructor(
    at: Date,
    readonly timeZone: string,
  ) {
    super(at.getTime());
    this.internal = new Date(at.getTime());
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    }).formatToParts(at);
    this.wall = Object.fromEntries(parts.filter((p) => p.type !== "literal").map((p) => [p.type, Number(p.value)]));
  }

  withTimeZone(timeZone: string | null): ZonedDate {
    return new ZonedDate(this.internal, timeZone ?? this.timeZone);
  }

  tzComponents(): Record<string, number> {
    return this.wall;
  }

  override getFullYear(): number {
    return this.wall.year!;
  }
  override getMonth(): number {
    return this.wall.month! - 1;
  }
  override getDate(): number {
    return this.wall.day!;
  }
  override getHours(): number {
    return this.wall.hour!;
  }
  override getMinutes(): number {
    return this.wall.minute!;
  }
  override getSeconds(): number {
    return this.wall.second!;
  }
}

/** RFC 5545 TEXT: ical-generator escapes event properties but writes the calendar's name as given. */
function icsText(text: string): string {
  return text
    .replace(/[\\;,]/g, (c) => `\\${c}`)
    .replace(/\r\n|\r|\n/g, "\\n")
    .replace(/\p{Cc}/gu, "");
}

/** DTSTAMP in UTC: ical-generator writes it in the calendar's zone, without the Z RFC 5545 asks for. */
function utcStamp(at: Date): string {
  return `${at.toISOString().replace(/[-:]/g, "").slice(0, 15)}Z`;
}

export function icsFor(b: BookingForMail, now = new Date()): string {
  // METHOD matches the attachment's `method=PUBLISH`.
  const calendar = ical({
    prodId: { company: "onsale", product: "tickets" },
    name: icsText(b.eventName),
    method: ICalCalendarMethod.PUBLISH,
  });
  calendar.timezone({ name: b.timeZone, generator: getVtimezoneComponent });
  calendar.createEvent({
    id: `${b.bookingId}@onsale`,
    start: new ZonedDate(b.startsAt, b.timeZone),
    end: new ZonedDate(new Date(b.startsAt.getTime() + EVENT_LENGTH_MS), b.timeZone),
    timezone: b.timeZone,
    summary: b.eventName,
    location: b.venue,
    description: `Booking ${b.bookingId}: ${b.quantity} ticket(s)`,
  });
  return calendar.toString().replace(/^DTSTAMP:.*$/m, `DTSTAMP:${utcStamp(now)}\r`);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function content(
  subject: string,
  lines: string[],
  link?: { href: string; label: string },
  attachments: MailContent["attachments"] = [],
): MailContent {
  const text = [...lines, ...(link ? ["", `${link.label}: ${link.href}`] : [])].join("\n");
  const html = [
    ...lines.map((line) => `<p>${escapeHtml(line)}</p>`),
    ...(link ? [`<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.label)}</a></p>`] : []),
  ].join("\n");
  return { subject, text, html, attachments };
}

export function renderMail(kind: NotificationKind, b: BookingForMail): MailContent {
  const when = localTime(b.startsAt, b.timeZone);
  const what = `${b.quantity} ticket(s) for ${b.eventName}, ${b.venue}, ${when}`;
  if (kind === "confirmation") {
    return content(
      `Your tickets: ${b.eventName}`,
      [
        `Booking ${b.bookingId} is paid: ${what}.`,
        `Amount paid: ${formatMoney(b.amount, b.currency)}.`,
        "The attached event.ics adds the event to your calendar.",
      ],
      { href: googleCalendarUrl(b), label: "Add to Google Calendar" },
      [{ filename: "event.ics", content: icsFor(b), contentType: "text/calendar; charset=utf-8; method=PUBLISH" }],
    );
  }
  if (kind === "your_turn") {
    const deadline = b.expiresAt ? localTime(b.expiresAt, b.timeZone) : "soon";
    return content(
      `Your turn: pay for ${b.eventName}`,
      [
        `You reached the head of the line: ${what} are held for you.`,
        `Pay by ${deadline}, or they go to the next person (${formatMoney(b.amount, b.currency)}).`,
      ],
      { href: b.payUrl, label: "Pay now" },
    );
  }
  if (kind === "refund") {
    return content(`Refund: ${b.eventName}`, [
      `We could not give you ${what}${b.reason ? ` (${b.reason.replace(/_/g, " ")})` : ""}.`,
      `Your payment of ${formatMoney(b.amount, b.currency)} is being refunded in full to the card you paid with.`,
    ]);
  }
  return content(`Reminder: ${b.eventName}`, [`Booking ${b.bookingId}: ${what}.`], {
    href: googleCalendarUrl(b),
    label: "Add to Google Calendar",
  });
}
