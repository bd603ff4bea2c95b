// The one definition of what the Lua scripts and TypeScript share: booking states, the
// booking and event hashes, the log entry. lua/ reads it as the include "generated/schema"
// (schemaLua below, built when the scripts load); test/schema.test.ts proves the Lua sources,
// this file and PostgreSQL's booking_status agree.

export const BOOKING_STATES = ["waiting", "held", "paid", "expired", "cancelled", "refunded"] as const;
export type BookingState = (typeof BOOKING_STATES)[number];

/**
 * States that end a booking: its hash is then kept only for the retention period (a late
 * payment can still turn an expired or cancelled booking into a paid one).
 */
export const TERMINAL_STATES: readonly BookingState[] = ["paid", "expired", "cancelled", "refunded"];

const STATE_SET: ReadonlySet<string> = new Set(BOOKING_STATES);

export function isBookingState(value: unknown): value is BookingState {
  return typeof value === "string" && STATE_SET.has(value);
}

/** A name -> itself table, so code names a state or field through the schema: STATE.held. */
type Names<T extends string> = { readonly [K in T]: K };
function names<T extends string>(list: readonly T[]): Names<T> {
  return Object.freeze(Object.fromEntries(list.map((name) => [name, name]))) as Names<T>;
}

export const STATE = names(BOOKING_STATES);

interface FieldSpec {
  type: "string" | "number";
  /** The field's name in a log entry; absent when it is not logged. */
  log?: string;
}

/**
 * booking:{E}:<id>, one hash per booking. Scripts load every field into a table named by
 * these fields (an absent one reads as '' or 0); the log carries each field that names a
 * log name.
 */
export const BOOKING_HASH = {
  user: { type: "string", log: "u" },
  qty: { type: "number", log: "q" },
  state: { type: "string", log: "s" },
  /** Arrival sequence (FCFS order). */
  seq: { type: "number", log: "seq" },
  /** When the hold ends (ms); 0 when not held. */
  exp: { type: "number", log: "exp" },
  amount: { type: "number", log: "amt" },
  currency: { type: "string", log: "cur" },
  email: { type: "string", log: "em" },
  /** The payment that settled it. */
  pay: { type: "string", log: "pay" },
  reason: { type: "string", log: "why" },
  created: { type: "number", log: "c" },
  /** The token's secret half: never logged. */
  token: { type: "string" },
  /** Hold sequence: holds numbered in the order granted. */
  hseq: { type: "number", log: "hs" },
} as const satisfies Record<string, FieldSpec>;

export type BookingField = keyof typeof BOOKING_HASH;
/** Fields set on a booking beside the loaded ones: a payment whose amount or currency differs. */
const BOOKING_EXTRA = ["flag"] as const;
export const BOOKING = names([...(Object.keys(BOOKING_HASH) as BookingField[]), ...BOOKING_EXTRA]);

interface EventFieldSpec {
  field: string;
  type: "string" | "number";
  /** Read into `ev` by every script; absent reads as nil, or 0 when `orZero`. */
  read?: true;
  orZero?: true;
}

/** event:{E}, one hash per live event, by the name scripts and TypeScript give each field. */
export const EVENT_HASH = {
  status: { field: "status", type: "string", read: true },
  instock: { field: "instock", type: "number", read: true },
  held: { field: "held", type: "number", read: true },
  paid: { field: "paid", type: "number", read: true },
  capacity: { field: "capacity", type: "number", read: true },
  maxPerUser: { field: "max_per_user", type: "number", read: true },
  saleStartsAtMs: { field: "sale_starts_at", type: "number", read: true, orZero: true },
  saleEndsAtMs: { field: "sale_ends_at", type: "number", read: true, orZero: true },
  price: { field: "price", type: "number", read: true },
  currency: { field: "currency", type: "string", read: true },
  powBits: { field: "pow_bits", type: "number", read: true, orZero: true },
  holdMs: { field: "hold_ms", type: "number", read: true, orZero: true },
  /** Bumped by every settings change. */
  version: { field: "version", type: "number" },
  /** The last arrival and hold sequence handed out. */
  nextSeq: { field: "next_seq", type: "number" },
  nextHold: { field: "next_hold", type: "number" },
  /** Display fields cached from PostgreSQL; `cache flush` drops only these. */
  name: { field: "name", type: "string" },
  venue: { field: "venue", type: "string" },
  startsAt: { field: "starts_at", type: "string" },
  timeZone: { field: "time_zone", type: "string" },
} as const satisfies Record<string, EventFieldSpec>;

type EventName = keyof typeof EVENT_HASH;
/** Each event field's hash field name: EVENT.maxPerUser is "max_per_user". */
export const EVENT = Object.freeze(
  Object.fromEntries(Object.entries(EVENT_HASH).map(([name, spec]) => [name, spec.field])),
) as { readonly [K in EventName]: (typeof EVENT_HASH)[K]["field"] };

/**
 * The booking reply of hold, cancel, confirm and lookup: { 'ok', kind, ...these }, each a
 * booking hash field, the booking's id, or its position (1-based place in the line; 0 when
 * not waiting). engine/commands.ts decodes it.
 */
export const BOOKING_REPLY = ["id", "state", "qty", "exp", "position", "token", "user", "amount", "currency", "reason"] as const;

/** A log entry's fields beside the booking's logged ones: what happened, to which booking, when. */
export const LOG_HEAD = { kind: "k", bookingId: "id", atMs: "at" } as const;

/** Short name in the log -> booking hash field, for each logged field. */
const LOGGED: readonly (readonly [string, BookingField])[] = (Object.keys(BOOKING_HASH) as BookingField[]).flatMap(
  (field) => {
    const log = (BOOKING_HASH[field] as FieldSpec).log;
    return log === undefined ? [] : [[log, field] as const];
  },
);

/** Every name a log entry uses. */
export const LOG_NAMES: readonly string[] = [...Object.values(LOG_HEAD), ...LOGGED.map(([log]) => log)];

const luaString = (value: string): string => `'${value}'`;
const luaList = (values: readonly string[]): string => `{ ${values.map(luaString).join(", ")} }`;
const strictTable = (label: string, entries: readonly (readonly [string, string])[]): string =>
  `strict('${label}', { ${entries.map(([name, value]) => `${name} = ${luaString(value)}`).join(", ")} })`;

/** The include "generated/schema": the tables above as Lua. A name missing from a table is an error, not nil. */
export function schemaLua(): string {
  const bookingFields = Object.keys(BOOKING_HASH) as BookingField[];
  const eventRead = (Object.keys(EVENT_HASH) as EventName[]).filter((name) => "read" in EVENT_HASH[name]);
  return [
    "-- Generated from engine/schema.ts when the scripts load; change it there.",
    "local function strict(label, t)",
    "  return setmetatable(t, { __index = function(_, name)",
    "    error('schema: no ' .. label .. ' ' .. tostring(name))",
    "  end })",
    "end",
    `local STATE = ${strictTable("booking state", BOOKING_STATES.map((s) => [s, s]))}`,
    `local TERMINAL = { ${TERMINAL_STATES.map((s) => `${s} = true`).join(", ")} }`,
    `local BOOKING = ${strictTable("booking field", Object.keys(BOOKING).map((f) => [f, f]))}`,
    `local BOOKING_FIELDS = ${luaList(bookingFields)}`,
    `local BOOKING_NUMBERS = { ${bookingFields.filter((f) => BOOKING_HASH[f].type === "number").map((f) => `${f} = true`).join(", ")} }`,
    `local EVENT = ${strictTable("event field", Object.entries(EVENT))}`,
    `local EVENT_READ_FIELDS = ${luaList(eventRead.map((name) => EVENT_HASH[name].field))}`,
    `local EVENT_READ = { ${eventRead
      .map((name) => {
        const spec: EventFieldSpec = EVENT_HASH[name];
        return `{ ${luaString(name)}, ${luaString(spec.orZero ? "count" : spec.type)} }`;
      })
      .join(", ")} }`,
    `local BOOKING_REPLY = ${luaList(BOOKING_REPLY)}`,
    `local LOG = ${strictTable("log field", Object.entries(LOG_HEAD))}`,
    `local LOGGED = { ${LOGGED.map(([log, field]) => `{ ${luaString(log)}, ${luaString(field)} }`).join(", ")} }`,
    "",
  ].join("\n");
}
