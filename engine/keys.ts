// Every Redis key the engine uses is built here. All keys of one event carry the hash tag
// {eventId}, so an event lives in one Redis Cluster slot and its scripts run unchanged there.

/** The nine keys of an event, in the order of EVENT_KEY_LAYOUT: the scripts build them from event:{E} alone. */
export type EventKeys = readonly [
  event: string,
  line: string,
  holds: string,
  people: string,
  log: string,
  bookingPrefix: string,
  idemPrefix: string,
  ratePrefix: string,
  powPrefix: string,
];

/**
 * Each key of event E by the name scripts give it (lua/includes/context.lua's ctx): `<head>{E}<tail>`;
 * a tail ":" makes it a prefix (booking:{E}:<id>).
 */
const EVENT_KEY_LAYOUT = [
  ["event", "event:", ""],
  ["line", "line:", ""],
  ["holds", "holds:", ""],
  ["people", "people:", ""],
  ["log", "log:", ""],
  ["bookingPrefix", "booking:", ":"],
  ["idemPrefix", "idem:", ":"],
  ["ratePrefix", "rate:", ":"],
  ["powPrefix", "pow:", ":"],
] as const;

export const EVENT_KEYS = EVENT_KEY_LAYOUT.length;

export function eventKeys(eventId: string): EventKeys {
  const tag = `{${eventId}}`;
  return EVENT_KEY_LAYOUT.map(([, head, tail]) => `${head}${tag}${tail}`) as unknown as EventKeys;
}

/**
 * The include "generated/keys": eventContext(eventKey) gives every key of the event from its
 * event:{E} key, as eventKeys does, so a script is sent that one key (KEYS[1]). Every key
 * built carries the same hash tag, so on a Cluster they all live in KEYS[1]'s slot.
 */
export function eventKeysLua(): string {
  const head = EVENT_KEY_LAYOUT[0][1];
  const fields = EVENT_KEY_LAYOUT.slice(1).map(
    ([name, keyHead, tail]) => `${name} = '${keyHead}' .. tag${tail === "" ? "" : ` .. '${tail}'`}`,
  );
  return [
    "-- Generated from engine/keys.ts when the scripts load; change it there.",
    "local function eventContext(eventKey)",
    `  local tag = string.sub(eventKey, ${head.length + 1})`,
    `  return { event = eventKey, ${fields.join(", ")} }`,
    "end",
    "",
  ].join("\n");
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
