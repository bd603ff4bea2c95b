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
  /** The Idempotency-Key it was made with ('' when none), so its key can end with it: never logged. */
  idem: { type: "string" },
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
  /**
   * Read into `ev` by every script (absent reads as nil, or 0 when `orZero`): "head" fields by
   * the first read of a hold (enough to open the event and refuse a sold-out request), "rest"
   * after it.
   */
  read?: "head" | "rest";
  orZero?: true;
}

/** event:{E}, one hash per live event, by the name scripts and TypeScript give each field. */
export const EVENT_HASH = {
  status: { field: "status", type: "string", read: "head" },
  instock: { field: "instock", type: "number", read: "head" },
  held: { field: "held", type: "number", read: "head" },
  paid: { field: "paid", type: "number", read: "rest" },
  capacity: { field: "capacity", type: "number", read: "rest" },
  maxPerUser: { field: "max_per_user", type: "number", read: "head" },
  saleStartsAtMs: { field: "sale_starts_at", type: "number", read: "rest", orZero: true },
  saleEndsAtMs: { field: "sale_ends_at", type: "number", read: "head", orZero: true },
  price: { field: "price", type: "number", read: "rest" },
  currency: { field: "currency", type: "string", read: "rest" },
  powBits: { field: "pow_bits", type: "number", read: "rest", orZero: true },
  holdMs: { field: "hold_ms", type: "number", read: "head", orZero: true },
  /** Bumped by every settings change. */
  version: { field: "version", type: "number" },
  /** The last arrival and hold sequence handed out; read so a booking's writes to the event are one HSET. */
  nextSeq: { field: "next_seq", type: "number", read: "rest", orZero: true },
  nextHold: { field: "next_hold", type: "number", read: "rest", orZero: true },
  /**
   * No hold ends before this (ms), so reclaiming expired holds is skipped until then: at most
   * the earliest score of holds:{E}, HOLDS_NONE_DUE when none is held, absent (0) when unknown.
   */
  holdsDueAtMs: { field: "holds_due_at", type: "number", read: "rest", orZero: true },
  /** 1 once serving the line found it empty, 0 (or absent) once anyone has queued since: an empty line is not read. */
  lineEmpty: { field: "line_empty", type: "number", read: "rest", orZero: true },
  /** Never read: a value too long for a listpack, so the hash stays a hash table (lua/load.lua). */
  hashtablePad: { field: "hashtable_pad", type: "string" },
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
export const BOOKING_REPLY = [
  "id",
  "state",
  "qty",
  "exp",
  "position",
  "token",
  "user",
  "amount",
  "currency",
  "reason",
] as const;

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

const q = (value: string): string => `'${value}'`;
const list = (values: readonly string[]): string => values.join(", ");

/** The tables Lua code names schema entries through, resolved to literals when a script loads. */
const LUA_NAMES: Record<string, Readonly<Record<string, string>>> = { STATE, BOOKING, EVENT, LOG: LOG_HEAD };

/**
 * Replaces each STATE.x, BOOKING.x, EVENT.x and LOG.x in a script with its literal, so a
 * script pays nothing for naming them; a name the schema lacks fails the load.
 */
export function resolveSchemaNames(lua: string, script: string): string {
  return lua.replace(/\b(STATE|BOOKING|EVENT|LOG)\.(\w+)/g, (_match, table: string, name: string) => {
    const names = LUA_NAMES[table]!;
    if (!Object.hasOwn(names, name)) throw new Error(`lua/${script}.lua: ${table}.${name} is not in engine/schema.ts`);
    return q(names[name]!);
  });
}

/** The HMGET of the event fields `names` into v, and each one's value as `name = <Lua expression>`. */
function eventReadLua(names: readonly EventName[]): { hmget: string; values: string[] } {
  return {
    hmget: `  local v = redis.call('HMGET', key, ${list(names.map((name) => q(EVENT_HASH[name].field)))})`,
    values: names.map((name, i) => {
      const spec: EventFieldSpec = EVENT_HASH[name];
      const raw = `v[${i + 1}]`;
      return `${name} = ${spec.type === "string" ? raw : spec.orZero ? `tonumber(${raw}) or 0` : `tonumber(${raw})`}`;
    }),
  };
}

function eventLua(): string[] {
  const all = Object.keys(EVENT_HASH) as EventName[];
  const readBy = (read: EventFieldSpec["read"]) =>
    all.filter((name) => (EVENT_HASH[name] as EventFieldSpec).read === read);
  // status first: its absence (v[1] nil) means the event is not live.
  const headNames = readBy("head");
  const restNames = readBy("rest");
  const head = eventReadLua(headNames);
  const rest = eventReadLua(restNames);
  const both = eventReadLua([...headNames, ...restNames]);
  return [
    "-- The event's head fields (what opens it and refuses a sold-out hold); nil when the event is not live.",
    "local function readEventHead(key)",
    head.hmget,
    "  if not v[1] then return nil end",
    `  return { ${list(head.values)} }`,
    "end",
    "-- Adds the event's other read fields to ev, as readEventHead returned it.",
    "local function readEventRest(key, ev)",
    rest.hmget,
    ...rest.values.map((value) => `  ev.${value}`),
    "end",
    "-- The event's fields every script reads, by their schema names; nil when the event is not live.",
    "local function readEvent(key)",
    both.hmget,
    "  if not v[1] then return nil end",
    `  return { ${list(both.values)} }`,
    "end",
  ];
}

/** Lua appending name, value to the flat list f of n entries unless value is '' or 0 (inline: it runs on every booking change). */
function putUnlessEmpty(name: string, value: string): string {
  return `if ${value} ~= '' and ${value} ~= 0 then f[n + 1], f[n + 2], n = ${name}, ${value}, n + 2 end`;
}

function bookingLua(): string[] {
  const fields = Object.keys(BOOKING_HASH) as BookingField[];
  const values = fields.map(
    (field, i) =>
      `${field} = ${BOOKING_HASH[field].type === "number" ? `tonumber(v[${i + 1}]) or 0` : `v[${i + 1}] or ''`}`,
  );
  return [
    "-- A booking as a table named by its hash fields, plus id and key; nil when there is none.",
    "local function readBooking(key, id)",
    `  local v = redis.call('HMGET', key, ${list(fields.map(q))})`,
    `  if not v[${fields.indexOf("state") + 1}] then return nil end`,
    `  return { id = id, key = key, ${list(values)} }`,
    "end",
    "-- Writes the fields of a new booking that are not empty ('' or 0, what an absent field",
    "-- reads as): a waiting person's booking is most of what the line costs in memory.",
    "local function saveBooking(b)",
    "  local f, n = {}, 0",
    ...fields.map((field) => `  ${putUnlessEmpty(q(field), `b.${field}`)}`),
    "  redis.call('HSET', b.key, unpack(f, 1, n))",
    "end",
    "-- Appends the booking as it now stands to the log, without empty fields, the kind when it",
    `-- is the state, or when it was created when that is now (${q(LOG_HEAD.atMs)}); the decoder restores them.`,
    "local function logBooking(log, kind, b, nowMs)",
    `  local f, n = { ${q(LOG_HEAD.bookingId)}, b.id, ${q(LOG_HEAD.atMs)}, nowMs }, 4`,
    `  if kind ~= b.state then ${putUnlessEmpty(q(LOG_HEAD.kind), "kind")} end`,
    ...LOGGED.map(([log, field]) =>
      field === "created"
        ? `  if b.created ~= nowMs then ${putUnlessEmpty(q(log), "b.created")} end`
        : `  ${putUnlessEmpty(q(log), `b.${field}`)}`,
    ),
    "  redis.call('XADD', log, '*', unpack(f, 1, n))",
    "end",
    "local function bookingReplyOf(kind, b, position)",
    `  return { 'ok', kind, ${list(BOOKING_REPLY.map((entry) => (entry === "position" ? "position" : `b.${entry}`)))} }`,
    "end",
    "local function isTerminal(state)",
    `  return ${TERMINAL_STATES.map((state) => `state == ${q(state)}`).join(" or ")}`,
    "end",
  ];
}

/** The include "generated/schema": reading and writing the booking and event hashes and the log, as the schema lists them. */
export function schemaLua(): string {
  return [
    "-- Generated from engine/schema.ts when the scripts load; change it there.",
    ...eventLua(),
    ...bookingLua(),
    "",
  ].join("\n");
}
