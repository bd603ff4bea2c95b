import type { RedisClient } from "../engine/redis.js";
import { compareStreamIds, lastLogId } from "../engine/eventLog.js";
import { auditEvent, paidBookingIds } from "../engine/audit.js";
import type { Engine } from "../engine/engine.js";
import { logKey } from "../engine/keys.js";
import { bookingCountsByStatus, holdOrderViolations, paidBookingsOfEvent } from "../sql/bookings.js";
import type { Pool } from "../sql/db.js";
import { relayOffsetOf } from "../sql/relay.js";

// After an on-sale: no oversell in Redis, every paid booking in PostgreSQL exactly once,
// holds granted in arrival order (checked in Redis by the audit, in PostgreSQL here, and in the
// log by the mix).

export interface Invariants {
  ok: boolean;
  oversold: number;
  fcfsViolations: number;
  missingRows: number;
  duplicateRows: number;
  problems: string[];
  redis: { instock: number; held: number; paid: number; capacity: number };
  postgres: Record<string, { bookings: number; tickets: number }>;
}

/** Waits until the relay has written the whole log of the event; progress is 0..1 by log time. */
export async function waitForRelay(
  pool: Pool,
  redis: RedisClient,
  eventId: string,
  timeoutMs: number,
  onProgress?: (fraction: number) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const last = (await lastLogId(redis, eventId)) ?? "0-0";
  const first = (await redis.xrange(logKey(eventId), "-", "+", "COUNT", 1))[0]?.[0] ?? "0-0";
  const msOf = (id: string) => Number(id.split("-")[0]);
  for (;;) {
    const at = (await relayOffsetOf(pool, eventId)) ?? "0-0";
    if (compareStreamIds(at, last) >= 0) return;
    const spanMs = msOf(last) - msOf(first);
    onProgress?.(spanMs > 0 ? Math.max(0, (msOf(at) - msOf(first)) / spanMs) : 0);
    if (Date.now() > deadline)
      throw new Error(`relay still behind after ${timeoutMs} ms: at ${at}, log ends at ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Checks an on-sale; `logFcfsViolations` are those the mix found while reading the log. */
export async function verifyOnSale(
  engine: Engine,
  pool: Pool,
  eventId: string,
  logFcfsViolations: number,
): Promise<Invariants> {
  const problems: string[] = [];
  // Counted from the bookings; the counters may disagree (the audit says so).
  const audit = await auditEvent(engine, eventId);
  const { tally } = audit;
  const redis = { instock: tally.instock, held: tally.held, paid: tally.paid, capacity: tally.capacity };
  if (audit.problems.length > 0) problems.push(`invariant broken in Redis: ${audit.problems.slice(0, 20).join("; ")}`);
  const oversold = Math.max(0, redis.held + redis.paid - redis.capacity, -redis.instock);

  // Redis is the source of truth for what is paid; PostgreSQL must have each exactly once.
  const paidIds = await paidBookingIds(engine, eventId);
  const paidRows = await paidBookingsOfEvent(pool, eventId);
  const inPostgres = new Set(paidRows.map((row) => row.id));
  const missingRows = [...paidIds].filter((id) => !inPostgres.has(id)).length;
  const users = new Set(paidRows.map((row) => row.userId));
  // Rows paid in PostgreSQL that are not paid in Redis, plus a second paid row for one person.
  const duplicateRows = paidRows.filter((row) => !paidIds.has(row.id)).length + (paidRows.length - users.size);
  if (missingRows > 0) problems.push(`${missingRows} paid bookings missing in PostgreSQL`);
  if (duplicateRows > 0) problems.push(`${duplicateRows} paid rows in PostgreSQL too many`);

  const fcfsViolations = (await holdOrderViolations(pool, eventId)) + logFcfsViolations + audit.orderProblems.length;
  if (fcfsViolations > 0)
    problems.push(`${fcfsViolations} holds granted out of arrival order`, ...audit.orderProblems.slice(0, 20));
  if (oversold > 0) problems.push(`${oversold} tickets oversold`);

  const postgres = await bookingCountsByStatus(pool, eventId);
  const paidTickets = postgres.paid?.tickets ?? 0;
  if (paidTickets !== redis.paid) problems.push(`PostgreSQL has ${paidTickets} paid tickets, Redis ${redis.paid}`);
  return { ok: problems.length === 0, oversold, fcfsViolations, missingRows, duplicateRows, problems, redis, postgres };
}

/** How many bookings of the event PostgreSQL has, whatever their status. */
export async function bookingsInPostgres(pool: Pool, eventId: string): Promise<number> {
  return Object.values(await bookingCountsByStatus(pool, eventId)).reduce((sum, counts) => sum + counts.bookings, 0);
}
