import type { Engine } from "./engine.js";
import { decodeLogEntry, lastLogId, type LogEntry } from "./eventLog.js";
import { bookingKey, eventKey, eventKeys } from "./keys.js";
import { scanKeys } from "./redis.js";
import { BOOKING, EVENT, STATE } from "./schema.js";

// Recounts an event from its bookings; the tests, the fault suite and the benchmark use it to
// prove no oversell, that the per-person structures agree with the bookings, and FCFS.

export interface Tally {
  instock: number;
  capacity: number;
  held: number;
  paid: number;
  waiting: number;
}

/** Recounts of a live event tried before the last one is judged as it stands. */
const SNAPSHOT_TRIES = 50;
/** A longer log is not replayed for the FCFS check (the relay trims it as it persists). */
const LOG_REPLAY_MAX = 200_000;

/**
 * Recounts an event from its booking hashes, not from its counters, and checks:
 * instock + Σ held + Σ paid == capacity, every term ≥ 0, and the counters agree with the recount;
 * the hold index names exactly the held bookings, each scored by its expiry, and the line exactly
 * the waiting ones, each scored by its arrival; people:{E} has each person's held + paid tickets and
 * their one waiting or held booking; holds were granted in arrival order, and never
 * to a later arrival while an earlier one waited (in the line now, or until it was served, dropped or
 * cancelled: seen by replaying the log when it is complete).
 * The recount takes several reads, so it is a snapshot only if no script changed the event
 * meanwhile: every booking change appends to the event's log and every settings change
 * (a capacity PATCH) bumps its version, so a recount during which either moved is made again.
 */
export async function checkInvariant(engine: Engine, eventId: string): Promise<Tally> {
  const { tally, problems, orderProblems } = await auditEvent(engine, eventId);
  const all = [...problems, ...orderProblems];
  if (all.length > 0) throw new Error(`invariant broken for event ${eventId}: ${all.slice(0, 20).join("; ")}`);
  return tally;
}

export interface Audit {
  tally: Tally;
  /** Stock, the indexes and the per-person structures. */
  problems: string[];
  /** Holds granted out of arrival order. */
  orderProblems: string[];
}

/** What checkInvariant checks, as a list of problems instead of an error. */
export async function auditEvent(engine: Engine, eventId: string): Promise<Audit> {
  const mark = async () => {
    const [last, version] = await Promise.all([
      lastLogId(engine.redis, eventId),
      engine.redis.hget(eventKey(eventId), EVENT.version),
    ]);
    return `${last ?? ""}|${version ?? ""}`;
  };
  for (let attempt = 1; ; attempt++) {
    const before = await mark();
    const recount = await recountEvent(engine, eventId);
    if (attempt === SNAPSHOT_TRIES || (await mark()) === before) return judge(recount);
  }
}

interface BookingFacts {
  id: string;
  state: string;
  qty: number;
  user: string;
  seq: number;
  hseq: number;
  exp: number;
}

interface Recount {
  event: Record<string, string>;
  bookings: BookingFacts[];
  /** id -> score */
  holds: Map<string, number>;
  line: Map<string, number>;
  /** userId -> tickets held + paid, as people:{E} has them */
  tally: Map<string, number>;
  /** userId -> the open booking people:{E} names */
  open: Map<string, string>;
  /** The whole log, or null when it was trimmed or is too long to replay. */
  log: LogEntry[] | null;
}

const FACTS = [BOOKING.state, BOOKING.qty, BOOKING.user, BOOKING.seq, BOOKING.hseq, BOOKING.exp] as const;

async function recountEvent(engine: Engine, eventId: string): Promise<Recount> {
  const redis = engine.redis;
  const [event, line, holds, people, log] = eventKeys(eventId);
  const prefix = bookingKey(eventId, "");
  const keys = await bookingKeysOf(engine, eventId);
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.hmget(key, ...FACTS);
  const fields = (await pipeline.exec()) ?? [];
  const bookings: BookingFacts[] = [];
  for (const [index, key] of keys.entries()) {
    const [state, qty, user, seq, hseq, exp] = fields[index]![1] as (string | null)[];
    if (state === null || state === undefined) continue; // expired between SCAN and HMGET
    bookings.push({
      id: key.slice(prefix.length),
      state,
      qty: Number(qty),
      user: user ?? "",
      seq: Number(seq),
      hseq: Number(hseq),
      exp: Number(exp),
    });
  }
  const scored = async (key: string) => {
    const flat = await redis.zrange(key, 0, -1, "WITHSCORES");
    const map = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) map.set(flat[i]!, Number(flat[i + 1]));
    return map;
  };
  const { tally, open } = peopleOf(await redis.hgetall(people));
  return {
    event: await redis.hgetall(event),
    bookings,
    holds: await scored(holds),
    line: await scored(line),
    tally,
    open,
    log: await completeLog(engine, log),
  };
}

/** people:{E}'s entries, '<tickets>' then ':<open booking id>' while there is one (lua/includes/booking.lua readPerson). */
function peopleOf(entries: Record<string, string>): Pick<Recount, "tally" | "open"> {
  const tally = new Map<string, number>();
  const open = new Map<string, string>();
  for (const [user, value] of Object.entries(entries)) {
    const sep = value.indexOf(":");
    tally.set(user, Number(sep < 0 ? value : value.slice(0, sep)));
    if (sep >= 0) open.set(user, value.slice(sep + 1));
  }
  return { tally, open };
}

/** The event's log from its first booking on; null when the relay trimmed its start or it is too long. */
async function completeLog(engine: Engine, key: string): Promise<LogEntry[] | null> {
  if ((await engine.redis.xlen(key)) > LOG_REPLAY_MAX) return null;
  const entries = (await engine.redis.xrange(key, "-", "+")).map(([id, flat]) => decodeLogEntry(id, flat));
  const first = entries[0];
  if (first && !(first.arrivalSeq === 1 && first.reason === "")) return null;
  return entries;
}

function judge(recount: Recount): Audit {
  const { tally, problems } = stockProblems(recount);
  problems.push(...indexProblems(recount), ...personProblems(recount));
  const order = [...orderProblems(recount), ...(recount.log ? logOrderProblems(recount.log) : [])];
  return { tally, problems, orderProblems: order };
}

function stockProblems({ event, bookings }: Recount): { tally: Tally; problems: string[] } {
  const tally: Tally = {
    instock: Number(event[EVENT.instock]),
    capacity: Number(event[EVENT.capacity]),
    held: 0,
    paid: 0,
    waiting: 0,
  };
  for (const b of bookings) {
    if (b.state === STATE.held) tally.held += b.qty;
    else if (b.state === STATE.paid) tally.paid += b.qty;
    else if (b.state === STATE.waiting) tally.waiting += 1;
  }
  const problems: string[] = [];
  if (tally.instock < 0) problems.push(`instock ${tally.instock} < 0`);
  if (tally.instock + tally.held + tally.paid !== tally.capacity) {
    problems.push(`instock ${tally.instock} + held ${tally.held} + paid ${tally.paid} != capacity ${tally.capacity}`);
  }
  const counted = { held: event[EVENT.held], paid: event[EVENT.paid] };
  if (Number(counted.held) !== tally.held || Number(counted.paid) !== tally.paid) {
    problems.push(
      `counters held ${counted.held} paid ${counted.paid} disagree with bookings ${tally.held}/${tally.paid}`,
    );
  }
  return { tally, problems };
}

/** The hold index and the line name exactly the held and the waiting bookings, with their expiry and arrival as scores. */
function indexProblems({ bookings, holds, line }: Recount): string[] {
  const problems: string[] = [];
  const compare = (index: Map<string, number>, name: string, state: string, score: (b: BookingFacts) => number) => {
    const members = bookings.filter((b) => b.state === state);
    if (index.size !== members.length)
      problems.push(`${name} has ${index.size} entries for ${members.length} ${state} bookings`);
    for (const b of members) {
      const at = index.get(b.id);
      if (at === undefined) problems.push(`${state} booking ${b.id} missing from ${name}`);
      else if (at !== score(b)) problems.push(`${name} scores booking ${b.id} ${at}, the booking says ${score(b)}`);
    }
  };
  compare(holds, "hold index", STATE.held, (b) => b.exp);
  compare(line, "line", STATE.waiting, (b) => b.seq);
  return problems;
}

/** people:{E} has each person's held + paid tickets and names their one waiting or held booking. */
function personProblems({ bookings, tally, open }: Recount): string[] {
  const problems: string[] = [];
  const tickets = new Map<string, number>();
  const openOf = new Map<string, string>();
  for (const b of bookings) {
    if (b.state === STATE.held || b.state === STATE.paid) tickets.set(b.user, (tickets.get(b.user) ?? 0) + b.qty);
    if (b.state === STATE.held || b.state === STATE.waiting) {
      const other = openOf.get(b.user);
      if (other !== undefined) problems.push(`person ${b.user} has two open bookings, ${other} and ${b.id}`);
      openOf.set(b.user, b.id);
    }
  }
  for (const user of new Set([...tickets.keys(), ...tally.keys()])) {
    const kept = tally.get(user) ?? 0;
    if (kept !== (tickets.get(user) ?? 0))
      problems.push(`tally of ${user} is ${kept}, bookings hold or paid ${tickets.get(user) ?? 0}`);
  }
  for (const user of new Set([...openOf.keys(), ...open.keys()])) {
    if (open.get(user) !== openOf.get(user))
      problems.push(
        `open booking of ${user} is ${open.get(user) ?? "none"}, bookings say ${openOf.get(user) ?? "none"}`,
      );
  }
  return problems;
}

/**
 * From the bookings as they stand: holds (hseq numbers them as granted, whatever state the booking
 * is in now) follow arrival order, and nobody still waiting arrived before anyone granted a hold.
 */
function orderProblems({ bookings }: Recount): string[] {
  const problems: string[] = [];
  const granted = bookings.filter((b) => b.hseq > 0).sort((x, y) => x.hseq - y.hseq);
  for (let i = 1; i < granted.length; i++) {
    const [before, after] = [granted[i - 1]!, granted[i]!];
    if (after.seq <= before.seq)
      problems.push(
        `hold ${after.hseq} went to arrival ${after.seq} after hold ${before.hseq} went to arrival ${before.seq}`,
      );
  }
  const lastGranted = granted.reduce((max, b) => Math.max(max, b.seq), 0);
  for (const b of bookings) {
    if (b.state === STATE.waiting && b.seq < lastGranted)
      problems.push(`arrival ${b.seq} still waits, arrival ${lastGranted} got a hold`);
  }
  return problems;
}

/**
 * Replays the whole log: a hold goes only to the earliest arrival still waiting (or to a newcomer
 * when nobody waits), whether the earlier ones are later served, dropped or cancelled.
 */
function logOrderProblems(log: LogEntry[]): string[] {
  const problems: string[] = [];
  // Arrivals are logged in increasing order, so the map's first entry is the earliest waiting.
  const waiting = new Map<string, number>();
  let lastHoldSeq = 0;
  for (const entry of log) {
    if (entry.status === STATE.waiting) {
      waiting.set(entry.bookingId, entry.arrivalSeq);
      continue;
    }
    waiting.delete(entry.bookingId);
    if (entry.status !== STATE.held) continue;
    const earliest = waiting.values().next();
    if (!earliest.done && earliest.value < entry.arrivalSeq) {
      problems.push(
        `log ${entry.streamId}: arrival ${entry.arrivalSeq} got a hold while arrival ${earliest.value} waited`,
      );
    }
    if (entry.holdSeq <= lastHoldSeq)
      problems.push(`log ${entry.streamId}: hold number ${entry.holdSeq} after ${lastHoldSeq}`);
    lastHoldSeq = entry.holdSeq;
  }
  return problems;
}

/** Every booking hash of the event still in Redis (finished ones stay for the retention period). */
async function bookingKeysOf(engine: Engine, eventId: string): Promise<string[]> {
  return scanKeys(engine.redis, `${bookingKey(eventId, "").replace(/[{}]/g, "\\$&")}*`);
}

/** Ids of the event's bookings that are paid in Redis. */
export async function paidBookingIds(engine: Engine, eventId: string): Promise<Set<string>> {
  const keys = await bookingKeysOf(engine, eventId);
  const pipeline = engine.redis.pipeline();
  for (const key of keys) pipeline.hget(key, BOOKING.state);
  const states = (await pipeline.exec()) ?? [];
  const prefix = bookingKey(eventId, "");
  return new Set(keys.filter((_, i) => states[i]![1] === STATE.paid).map((key) => key.slice(prefix.length)));
}
