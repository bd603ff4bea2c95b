// Every Redis key the engine uses is built here. All keys of one event carry the hash tag
// {eventId}, so an event lives in one Redis Cluster slot and its scripts run unchanged there.

/** The ten keys every event script receives, in the order lua/includes/context.lua reads them. */
export type EventKeys = readonly [
  event: string,
  line: string,
  holds: string,
  open: string,
  tally: string,
  log: string,
  bookingPrefix: string,
  idemPrefix: string,
  ratePrefix: string,
  powPrefix: string,
];

export const EVENT_KEYS = 10;

export function eventKeys(eventId: string): EventKeys {
  const tag = `{${eventId}}`;
  return [
    `event:${tag}`,
    `line:${tag}`,
    `holds:${tag}`,
    `open:${tag}`,
    `tally:${tag}`,
    `log:${tag}`,
    `booking:${tag}:`,
    `idem:${tag}:`,
    `rate:${tag}:`,
    `pow:${tag}:`,
  ] as const;
}

export const eventKey = (eventId: string): string => `event:{${eventId}}`;
export const logKey = (eventId: string): string => `log:{${eventId}}`;
export const lineKey = (eventId: string): string => `line:{${eventId}}`;
export const holdsKey = (eventId: string): string => `holds:{${eventId}}`;
export const bookingKey = (eventId: string, bookingId: string): string => `booking:{${eventId}}:${bookingId}`;

// Anti-bot: the hold scripts' gate (lua/includes/gate.lua) builds its token bucket keys from
// the event's rate prefix, as here, and used proof-of-work nonces from its pow prefix.
export const rateIpKey = (eventId: string, ip: string): string => `rate:{${eventId}}:ip:${ip}`;
/**
 * Bookings one client IP made for the event in the current window (lua/includes/admission.lua):
 * a counter that expires one unpaid retention after the window's first booking.
 */
export const ipBookingsKey = (eventId: string, ip: string): string => `rate:{${eventId}}:made:${ip}`;

/** Events whose inventory is live in Redis; the sweep walks this set. */
export const liveEventsKey = "events:live";

/** A cached GET /events answer, named by a hash of its normalized parameters. */
export const searchCacheKey = (queryHash: string): string => `search:${queryHash}`;
