import type { Gate } from "./admission.js";
import type { Config } from "./config.js";
import { EngineError, isEngineErrorCode, type EngineErrorCode } from "./errors.js";
import { bookingToken } from "./ids.js";
import { bookingKey, lineKey, type EventKeys } from "./keys.js";
import { BOOKING_REPLY, isBookingState, type BookingState } from "./schema.js";

// The typed boundary to lua/: one builder per script turns named inputs into the KEYS and
// ARGV its Input header lists, in that order; one decoder per reply checks the shape, the
// codes and the state names the script answered. An answer of any other shape is an error
// naming the script, never a cast. test/scripts.test.ts holds each builder to its header.

export type Arg = string | number;

/** The settings of this process's scripts, from the config: written into each script when it loads (engine/scripts.ts). */
export interface ScriptSettings {
  holdMs: number;
  idempotencyTtlMs: number;
  reclaimMax: number;
  serveMax: number;
  lineMax: number;
  retentionMs: number;
  unpaidRetentionMs: number;
  ipBookingsMax: number;
  rateIpPerS: number;
  rateIpBurst: number;
  rateUserPerS: number;
  rateUserBurst: number;
}

export function scriptSettings(config: Config): ScriptSettings {
  const { holds, antiBot } = config;
  return {
    holdMs: holds.holdMs,
    idempotencyTtlMs: holds.idempotencyTtlMs,
    reclaimMax: holds.reclaimMax,
    serveMax: holds.serveMax,
    lineMax: config.limits.lineMax,
    retentionMs: holds.retentionMs,
    unpaidRetentionMs: holds.unpaidRetentionMs,
    ipBookingsMax: antiBot.ipBookingsMax,
    rateIpPerS: antiBot.rateIpPerS,
    rateIpBurst: antiBot.rateIpBurst,
    rateUserPerS: antiBot.rateUserPerS,
    rateUserBurst: antiBot.rateUserBurst,
  };
}

/** One person's hold, as both hold scripts read it. */
export interface HoldInput {
  bookingId: string;
  /** The token's secret half. */
  secret: string;
  userId: string;
  quantity: number;
  email: string;
  idempotencyKey: string;
  /** A client's request passes the anti-bot gate; undefined for internal callers. */
  gate: Gate | undefined;
  /** The request proved it is userId: a refusal for an open booking may name that booking. */
  identityVerified: boolean;
}

// ---- Builders: named inputs in, KEYS then ARGV out (hold.lua's order, header line by line).
// An event's scripts take its key event:{E} alone (keys[0]) and build the others from its hash tag.

/** A request's own entries, in the order both hold scripts read them. */
function pushRequest(args: Arg[], r: HoldInput): void {
  const gate = r.gate;
  const proof = gate?.proof ?? null;
  args.push(
    r.bookingId,
    r.secret,
    r.userId,
    r.quantity,
    r.email,
    r.idempotencyKey,
    gate === undefined ? 0 : 1,
    gate?.clientIp ?? "",
    proof?.nonce ?? "",
    proof?.bits ?? 0,
    proof?.expiresAtMs ?? 0,
    r.identityVerified ? 1 : 0,
  );
}

export function holdArgs(keys: EventKeys, nowMs: number, r: HoldInput): Arg[] {
  const args: Arg[] = [keys[0], nowMs];
  pushRequest(args, r);
  return args;
}

/** hold_batch.lua's entries per request. */
export const HOLD_BATCH_REQUEST_ARGS = 12;

export function holdBatchArgs(keys: EventKeys, nowMs: number, requests: readonly HoldInput[]): Arg[] {
  const args: Arg[] = [keys[0], nowMs, requests.length];
  for (const r of requests) pushRequest(args, r);
  return args;
}

export interface CancelInput {
  bookingId: string;
  /** Checked only when reason is "user". */
  secret: string;
  reason: "user" | "payment_failed" | "checkout_expired";
}

export function cancelArgs(keys: EventKeys, nowMs: number, r: CancelInput): Arg[] {
  return [keys[0], nowMs, r.bookingId, r.secret, r.reason];
}

export interface ConfirmInput {
  bookingId: string;
  paymentRef: string;
  /** Minor units actually paid. */
  amount: number;
  currency: string;
}

export function confirmArgs(keys: EventKeys, nowMs: number, r: ConfirmInput): Arg[] {
  return [keys[0], nowMs, r.bookingId, r.paymentRef, r.amount, r.currency.toLowerCase()];
}

export function sweepArgs(keys: EventKeys, nowMs: number): Arg[] {
  return [keys[0], nowMs];
}

export interface LookupInput {
  eventId: string;
  bookingId: string;
  secret: string;
}

export function lookupArgs(r: LookupInput): Arg[] {
  return [bookingKey(r.eventId, r.bookingId), lineKey(r.eventId), r.secret, r.bookingId];
}

export interface LoadInput {
  capacity: number;
  /** Tickets paid according to PostgreSQL. */
  paidInDb: number;
  /** Settings and display fields of event:{E} (no inventory), as field, value pairs. */
  fields: readonly Arg[];
}

export function loadArgs(keys: EventKeys, r: LoadInput): Arg[] {
  return [keys[0], r.capacity, r.paidInDb, ...r.fields];
}

/** A booking an applied payment fact says is paid, as PostgreSQL has it, for restoring it in Redis. */
interface PaidToRestore {
  bookingId: string;
  /** PostgreSQL's row is paid (its tickets are in `paid`), not only the payment fact. */
  relayed: boolean;
  /** External user id; "" when the relay never wrote the booking (nobody is known). */
  userId: string;
  quantity: number;
  amount: number;
  currency: string;
  /** The checkout the payment went through, as confirm stored it. */
  paymentRef: string;
  arrivalSeq: number;
  holdSeq: number;
  email: string;
  createdMs: number;
}

/** What PostgreSQL knows of an event's bookings, for restoring Redis after a loss. */
export interface KnownInDb {
  paid: number;
  maxArrivalSeq: number;
  maxHoldSeq: number;
  /** The relay's offset in the same snapshot: PostgreSQL has every log entry up to it. */
  relayedUpTo: string;
  /** External user id and that person's paid tickets. */
  paidByUser: [string, number][];
  /** Paid bookings whose paid state Redis may lack (see sql/operations.ts paidToRestore). */
  restore: PaidToRestore[];
}

export function recoverArgs(keys: EventKeys, nowMs: number, known: KnownInDb): Arg[] {
  const restore = known.restore.map((r) => [
    r.bookingId,
    r.relayed ? 1 : 0,
    r.userId,
    r.quantity,
    r.amount,
    r.currency.toLowerCase(),
    r.paymentRef,
    r.arrivalSeq,
    r.holdSeq,
    r.email,
    r.createdMs,
  ]);
  const args: Arg[] = [
    keys[0],
    known.paid,
    known.maxArrivalSeq,
    known.maxHoldSeq,
    known.relayedUpTo,
    nowMs,
    JSON.stringify(restore),
  ];
  for (const [user, paid] of known.paidByUser) args.push(user, paid);
  return args;
}

// ---- Decoders: what a script answered, checked.

/** A booking as its holder sees it. */
export interface Booking {
  id: string;
  eventId: string;
  userId: string;
  quantity: number;
  status: BookingState;
  /** When the hold ends; 0 when not held. */
  expiresAtMs: number;
  /** 1-based place in the waiting line; 0 when not waiting. */
  position: number;
  token: string;
  amount: number;
  currency: string;
  reason: string;
}

export const HOLD_KINDS = ["held", "waiting", "replay"] as const;
const CANCEL_KINDS = ["cancelled", "unchanged"] as const;
const CONFIRM_OUTCOMES = ["paid", "late_paid", "duplicate", "refund", "over_limit", "mismatch"] as const;
export type HoldKind = (typeof HOLD_KINDS)[number];
export type CancelKind = (typeof CANCEL_KINDS)[number];
export type ConfirmOutcome = (typeof CONFIRM_OUTCOMES)[number];

function wrongReply(script: string, reply: unknown, why: string): never {
  throw new Error(`script ${script} answered ${JSON.stringify(reply)}: ${why}`);
}

/**
 * A script's reply of `length` entries led by 'ok', returned as is; a refusal
 * { code, detail } with one of the script's codes throws that code's EngineError.
 */
function okReply(script: string, reply: unknown, length: number, codes: ReadonlySet<EngineErrorCode>): unknown[] {
  if (!Array.isArray(reply)) wrongReply(script, reply, "not a list");
  const code = reply[0];
  if (code === "ok") {
    if (reply.length !== length) wrongReply(script, reply, `${length} entries expected`);
    return reply;
  }
  if (typeof code === "string" && isEngineErrorCode(code) && codes.has(code) && reply.length === 2) {
    throw new EngineError(code, String(reply[1]));
  }
  return wrongReply(script, reply, "not a reply this script gives");
}

function isRefusal(reply: unknown, code: string): boolean {
  return Array.isArray(reply) && reply.length === 2 && reply[0] === code;
}

function num(script: string, reply: unknown[], index: number): number {
  const value = reply[index];
  if (typeof value !== "number") wrongReply(script, reply, `entry ${index + 1} is not a number`);
  return value;
}

function str(script: string, reply: unknown[], index: number): string {
  const value = reply[index];
  if (typeof value !== "string") wrongReply(script, reply, `entry ${index + 1} is not a string`);
  return value;
}

const codes = (...list: EngineErrorCode[]): ReadonlySet<EngineErrorCode> => new Set(list);

/** The codes each script refuses with, as its Output header lists them. */
export const REFUSALS = {
  hold: codes(
    "EVENT_NOT_FOUND",
    "RATE_LIMITED",
    "POW_REQUIRED",
    "POW_REUSED",
    "SALE_CLOSED",
    "PER_PERSON_LIMIT",
    "OPEN_BOOKING_EXISTS",
    "IDEMPOTENCY_MISMATCH",
    "IP_BOOKING_LIMIT",
    "LINE_FULL",
    "SOLD_OUT",
  ),
  cancel: codes("BOOKING_NOT_FOUND", "NOT_CANCELLABLE"),
  confirm: codes("BOOKING_NOT_FOUND"),
  lookup: codes("BOOKING_NOT_FOUND"),
  load: codes("CAPACITY_BELOW_SOLD"),
  recover: codes("EVENT_NOT_FOUND", "CAPACITY_BELOW_SOLD"),
  sweep: codes(),
} as const;

const KINDS = {
  hold: new Set<string>(HOLD_KINDS),
  cancel: new Set<string>(CANCEL_KINDS),
  confirm: new Set<string>(CONFIRM_OUTCOMES),
  lookup: new Set<string>(["status"]),
} as const;

/** Where each entry of the booking reply is: after 'ok' and the kind. */
const AT = Object.fromEntries(BOOKING_REPLY.map((name, i) => [name, i + 2])) as Record<
  (typeof BOOKING_REPLY)[number],
  number
>;
const BOOKING_REPLY_LENGTH = BOOKING_REPLY.length + 2;

/** The booking reply (lua/includes/booking.lua bookingReply) of hold, cancel, confirm and lookup. */
function decodeBooking(script: keyof typeof KINDS, eventId: string, reply: unknown): Booking & { kind: string } {
  const r = okReply(script, reply, BOOKING_REPLY_LENGTH, REFUSALS[script]);
  const kind = str(script, r, 1);
  if (!KINDS[script].has(kind)) wrongReply(script, reply, `unknown kind ${kind}`);
  const status = r[AT.state];
  if (!isBookingState(status)) return wrongReply(script, reply, `unknown booking state ${String(status)}`);
  return {
    kind,
    id: str(script, r, AT.id),
    eventId,
    status,
    quantity: num(script, r, AT.qty),
    expiresAtMs: num(script, r, AT.exp),
    position: num(script, r, AT.position),
    token: bookingToken(eventId, str(script, r, AT.token)),
    userId: str(script, r, AT.user),
    amount: num(script, r, AT.amount),
    currency: str(script, r, AT.currency),
    reason: str(script, r, AT.reason),
  };
}

export const decodeHold = (eventId: string, reply: unknown) =>
  decodeBooking("hold", eventId, reply) as Booking & { kind: HoldKind };
export const decodeCancel = (eventId: string, reply: unknown) =>
  decodeBooking("cancel", eventId, reply) as Booking & { kind: CancelKind };
export const decodeConfirm = (eventId: string, reply: unknown) =>
  decodeBooking("confirm", eventId, reply) as Booking & { kind: ConfirmOutcome };
export const decodeLookup = (eventId: string, reply: unknown): Booking => decodeBooking("lookup", eventId, reply);

/** hold_batch's replies, one per request; an event that is not live answers one refusal, given to each. */
export function decodeHoldBatch(reply: unknown, count: number): unknown[] {
  if (!Array.isArray(reply)) return wrongReply("hold_batch", reply, "not a list");
  if (reply.length === count) return reply;
  if (reply.length === 1 && isRefusal(reply[0], "EVENT_NOT_FOUND")) return new Array<unknown>(count).fill(reply[0]);
  return wrongReply("hold_batch", reply, `${reply.length} replies for ${count} holds`);
}

export interface SweepResult {
  reclaimed: number;
  served: number;
  dropped: number;
  lineLength: number;
  holdCount: number;
  /** The sale is over and nothing is held or waiting: no sweep is needed until the event is loaded again. */
  finished: boolean;
}

/** null when the event is not live. */
export function decodeSweep(reply: unknown): SweepResult | null {
  if (isRefusal(reply, "EVENT_NOT_FOUND")) return null;
  const r = okReply("sweep", reply, 7, REFUSALS.sweep);
  const n = (index: number) => num("sweep", r, index);
  return { reclaimed: n(1), served: n(2), dropped: n(3), lineLength: n(4), holdCount: n(5), finished: n(6) === 1 };
}

export interface LoadResult {
  instock: number;
  held: number;
  paid: number;
  capacity: number;
}

export function decodeLoad(reply: unknown): LoadResult {
  const r = okReply("load", reply, 5, REFUSALS.load);
  const n = (index: number) => num("load", r, index);
  return { instock: n(1), held: n(2), paid: n(3), capacity: n(4) };
}

export interface RecoverResult {
  /** The log has entries PostgreSQL lacks yet: nothing was written. */
  relayBehind: boolean;
  paidAdded: number;
  countersRaised: number;
  talliesRaised: number;
  /** Bookings made paid again from their payment facts. */
  restored: number;
  /** Bookings that could not be (no stock left, or nobody known): their payments go back. */
  unrestored: string[];
}

export function decodeRecover(reply: unknown): RecoverResult {
  if (isRefusal(reply, "RELAY_BEHIND"))
    return { relayBehind: true, paidAdded: 0, countersRaised: 0, talliesRaised: 0, restored: 0, unrestored: [] };
  const r = okReply("recover", reply, 6, REFUSALS.recover);
  const n = (index: number) => num("recover", r, index);
  const unrestored = r[5];
  if (!Array.isArray(unrestored) || !unrestored.every((id) => typeof id === "string"))
    wrongReply("recover", reply, "entry 6 is not a list of booking ids");
  return {
    relayBehind: false,
    paidAdded: n(1),
    countersRaised: n(2),
    talliesRaised: n(3),
    restored: n(4),
    unrestored: unrestored as string[],
  };
}
