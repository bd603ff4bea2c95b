import { afterAll, describe, expect, inject, it } from "vitest";
import { dropEvent, scratchEvent } from "../testkit/fixtures.js";
import { Admission, type Gate } from "../engine/admission.js";
import { loadConfig } from "../engine/config.js";
import { Engine, type EventRecord, type HoldRequest } from "../engine/engine.js";
import { EngineError } from "../engine/errors.js";
import { bookingKey, eventKeys, ipBookingsKey } from "../engine/keys.js";
import { issueChallenge, solve } from "../engine/pow.js";
import { connectRedis } from "../engine/redis.js";
import { toProblem } from "../http/problems.js";

// What one hostile client can do to others through the hold script, against real Redis at
// the engine's boundary (Engine.hold with a client's gate): lock a person out, learn another
// person's booking id, or make Redis memory grow.

const env = { REDIS_URL: inject("redisUrl"), REDIS_CLUSTER_NODES: process.env.REDIS_CLUSTER_NODES ?? "" };
const config = loadConfig({
  ...env,
  RATE_IP_PER_S: "1000",
  RATE_IP_BURST: "1000",
  RATE_USER_PER_S: "2",
  RATE_USER_BURST: "5",
});
const redis = connectRedis(config.redis);
const engine = new Engine(redis, config);
const admission = new Admission(redis, config.antiBot);
const events: string[] = [];
afterAll(async () => {
  for (const eventId of events) await dropEvent(redis, eventId);
  redis.disconnect();
});

async function liveEvent(fields: Partial<EventRecord> = {}): Promise<string> {
  const event = { ...scratchEvent(100), ...fields };
  await engine.loadEvent(event, 0);
  events.push(event.id);
  return event.id;
}

function holdFrom(eventId: string, userId: string, gate: Gate, extra: Partial<HoldRequest> = {}) {
  return engine.hold({ eventId, userId, quantity: 1, email: "", idempotencyKey: "", gate, ...extra });
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => "ok",
    (error: EngineError) => error.code,
  );

describe("the user's token bucket is charged only for a request whose proof passes", () => {
  it("proofless or forged requests naming a victim do not lock the victim out", async () => {
    const eventId = await liveEvent({ powBits: 8 });
    const attacker = (proofSent: boolean): Gate => ({ clientIp: "198.51.100.66", proof: null, proofSent });
    // Far more than the user burst (5), without a proof and with a wrong one.
    for (let n = 0; n < 12; n++)
      expect(await refusal(holdFrom(eventId, "victim", attacker(n % 2 === 0)))).toMatch(/^POW_(REQUIRED|INVALID)$/);

    const { challenge } = issueChallenge(config.antiBot.powSecret, eventId, 8, config.antiBot.powTtlMs);
    const gate = admission.gateOf({
      eventId,
      clientIp: "203.0.113.5",
      powChallenge: challenge,
      powSolution: solve(challenge, 8),
    });
    expect(gate.proof).not.toBeNull();
    expect((await holdFrom(eventId, "victim", gate)).kind).toBe("held");
  });

  it("a replayed proof does not charge the user's bucket either", async () => {
    const eventId = await liveEvent({ powBits: 4 });
    const { challenge } = issueChallenge(config.antiBot.powSecret, eventId, 4, config.antiBot.powTtlMs);
    const gate = admission.gateOf({
      eventId,
      clientIp: "198.51.100.67",
      powChallenge: challenge,
      powSolution: solve(challenge, 4),
    });
    expect(await refusal(holdFrom(eventId, "someone-else", gate))).toBe("ok");
    for (let n = 0; n < 8; n++) expect(await refusal(holdFrom(eventId, "victim-2", gate))).toBe("POW_REUSED");
    const fresh = issueChallenge(config.antiBot.powSecret, eventId, 4, config.antiBot.powTtlMs).challenge;
    const own = admission.gateOf({
      eventId,
      clientIp: "203.0.113.6",
      powChallenge: fresh,
      powSolution: solve(fresh, 4),
    });
    expect((await holdFrom(eventId, "victim-2", own)).kind).toBe("held");
  });

  it("the client's own IP bucket is still charged by its refused requests", async () => {
    const tight = loadConfig({ ...env, RATE_IP_PER_S: "1", RATE_IP_BURST: "3" });
    const strict = new Engine(redis, tight);
    const eventId = await liveEvent({ powBits: 8 });
    const gate: Gate = { clientIp: "198.51.100.68", proof: null, proofSent: false };
    const nowMs = Date.now();
    const codes: string[] = [];
    for (let n = 0; n < 4; n++)
      codes.push(
        await refusal(
          strict.hold({ eventId, userId: `u${n}`, quantity: 1, email: "", idempotencyKey: "", gate }, nowMs),
        ),
      );
    expect(codes).toEqual(["POW_REQUIRED", "POW_REQUIRED", "POW_REQUIRED", "RATE_LIMITED"]);
  });
});

describe("the 409 for an open booking names it only to a verified identity", () => {
  it("hides the other booking's id unless the request proves it is that person", async () => {
    const eventId = await liveEvent();
    const gate: Gate = { clientIp: "203.0.113.9", proof: null, proofSent: false };
    const first = await holdFrom(eventId, "alice", gate);
    const typedName = await holdFrom(eventId, "alice", gate).catch((error: EngineError) => error);
    expect(typedName).toBeInstanceOf(EngineError);
    expect(typedName).toMatchObject({ code: "OPEN_BOOKING_EXISTS", detail: "" });
    expect((typedName as EngineError).message).not.toContain(first.id);
    const verified = await holdFrom(eventId, "alice", gate, { identityVerified: true }).catch(
      (error: EngineError) => error,
    );
    expect(verified).toMatchObject({ code: "OPEN_BOOKING_EXISTS", detail: first.id });
    // Internal callers (no gate) follow the same flag.
    const internal = await engine
      .hold({ eventId, userId: "alice", quantity: 1, email: "", idempotencyKey: "" })
      .catch((error: EngineError) => error);
    expect(internal).toMatchObject({ code: "OPEN_BOOKING_EXISTS", detail: "" });

    // The same through hold_batch.lua, which carries the flag per request.
    const batching = new Engine(redis, loadConfig({ ...env, HOLD_BATCH: "on" }));
    const [hidden, named] = await Promise.all([
      batching
        .hold({ eventId, userId: "alice", quantity: 1, email: "", idempotencyKey: "", gate })
        .catch((error: EngineError) => error),
      batching
        .hold({ eventId, userId: "alice", quantity: 1, email: "", idempotencyKey: "", gate, identityVerified: true })
        .catch((error: EngineError) => error),
    ]);
    expect(hidden).toMatchObject({ code: "OPEN_BOOKING_EXISTS", detail: "" });
    expect(named).toMatchObject({ code: "OPEN_BOOKING_EXISTS", detail: first.id });
  });
});

describe("Redis memory one client can take", () => {
  const bounded = loadConfig({ ...env, UNPAID_RETENTION_SECONDS: "120", IP_BOOKINGS_MAX: "3" });
  const budgeted = new Engine(redis, bounded);

  it("a booking that ended unpaid is kept for UNPAID_RETENTION_SECONDS, a paid one for BOOKING_RETENTION_SECONDS", async () => {
    const eventId = await liveEvent();
    const cancelled = await budgeted.hold({ eventId, userId: "cycler", quantity: 1, email: "", idempotencyKey: "" });
    await budgeted.cancel(cancelled.id, cancelled.token);
    const expired = await budgeted.hold({ eventId, userId: "slow", quantity: 1, email: "", idempotencyKey: "" });
    await budgeted.sweep(eventId, Date.now() + bounded.holds.holdMs + 1);
    const paid = await budgeted.hold({ eventId, userId: "payer", quantity: 1, email: "", idempotencyKey: "" });
    await budgeted.confirm(eventId, paid.id, "pay-1", paid.amount, paid.currency);
    const ttlS = (id: string) => redis.ttl(bookingKey(eventId, id));
    expect(await ttlS(cancelled.id)).toBeGreaterThan(100);
    expect(await ttlS(cancelled.id)).toBeLessThanOrEqual(120);
    expect(await ttlS(expired.id)).toBeLessThanOrEqual(120);
    expect(await ttlS(paid.id)).toBeGreaterThan(120);
    expect(await ttlS(paid.id)).toBeLessThanOrEqual(bounded.holds.retentionMs / 1000);

    // Its Idempotency-Key goes with it; a paid booking's keeps IDEMPOTENCY_TTL_SECONDS.
    const keyed = await budgeted.hold({ eventId, userId: "keyed", quantity: 1, email: "", idempotencyKey: "k1" });
    await budgeted.cancel(keyed.id, keyed.token);
    const idemKeyTtlS = (userId: string, key: string) => redis.ttl(`${eventKeys(eventId)[6]}${userId}:${key}`);
    expect(await idemKeyTtlS("keyed", "k1")).toBeGreaterThan(100);
    expect(await idemKeyTtlS("keyed", "k1")).toBeLessThanOrEqual(120);
    const keyedPaid = await budgeted.hold({
      eventId,
      userId: "keyed-payer",
      quantity: 1,
      email: "",
      idempotencyKey: "k2",
    });
    await budgeted.confirm(eventId, keyedPaid.id, "pay-2", keyedPaid.amount, keyedPaid.currency);
    expect(await idemKeyTtlS("keyed-payer", "k2")).toBeGreaterThan(120);
  });

  it("one address makes at most IP_BOOKINGS_MAX bookings per event per window, cancelled or not", async () => {
    const eventId = await liveEvent();
    const gate = (clientIp: string): Gate => ({ clientIp, proof: null, proofSent: false });
    const from = (ip: string, userId: string, idempotencyKey = "") =>
      budgeted.hold({ eventId, userId, quantity: 1, email: "", idempotencyKey, gate: gate(ip) });
    for (let n = 0; n < 3; n++) {
      const held = await from("198.51.100.70", `cycle-${n}`, `key-${n}`);
      await budgeted.cancel(held.id, held.token);
    }
    const refused = await from("198.51.100.70", "cycle-3").catch((error: EngineError) => error);
    expect(refused).toMatchObject({ code: "IP_BOOKING_LIMIT" });
    const waitMs = Number((refused as EngineError).detail);
    expect(waitMs).toBeGreaterThan(100_000);
    expect(waitMs).toBeLessThanOrEqual(120_000);
    // An idempotent replay makes nothing new and is answered; other addresses and internal callers are not limited.
    expect((await from("198.51.100.70", "cycle-2", "key-2")).kind).toBe("replay");
    expect((await from("198.51.100.71", "someone")).kind).toBe("held");
    expect(
      (await budgeted.hold({ eventId, userId: "internal", quantity: 1, email: "", idempotencyKey: "" })).kind,
    ).toBe("held");
    // The window passes: the address may book again.
    await redis.pexpire(ipBookingsKey(eventId, "198.51.100.70"), 1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await from("198.51.100.70", "cycle-4")).kind).toBe("held");

    // Over HTTP: 429 problem+json naming the setting, with Retry-After until the window ends.
    const problem = toProblem(refused)!;
    expect(problem.status).toBe(429);
    expect(problem.body("/bookings")).toMatchObject({
      type: "/problems/too-many-bookings-from-address",
      limit: "IP_BOOKINGS_MAX",
    });
    expect(Number(problem.headers["Retry-After"])).toBe(Math.ceil(waitMs / 1000));
  });

  it("hold_batch.lua counts an address's bookings the same way", async () => {
    const eventId = await liveEvent();
    const batching = new Engine(
      redis,
      loadConfig({ ...env, UNPAID_RETENTION_SECONDS: "120", IP_BOOKINGS_MAX: "3", HOLD_BATCH: "on" }),
    );
    const gate: Gate = { clientIp: "198.51.100.72", proof: null, proofSent: false };
    const codes = await Promise.all(
      Array.from({ length: 5 }, (_, n) =>
        refusal(batching.hold({ eventId, userId: `batch-${n}`, quantity: 1, email: "", idempotencyKey: "", gate })),
      ),
    );
    expect(codes.sort()).toEqual(["IP_BOOKING_LIMIT", "IP_BOOKING_LIMIT", "ok", "ok", "ok"]);
  });
});

describe("Redis memory per abusive client per hour, at the default limits", () => {
  it("a hold-then-cancel loop from one address stays under the bound the README states", async () => {
    const defaults = loadConfig(env);
    const engineAtDefaults = new Engine(redis, defaults);
    const eventId = await liveEvent({ capacity: 10_000, maxPerUser: 10 });
    const gate: Gate = { clientIp: "198.51.100.99", proof: null, proofSent: false };
    const memoryOfEvent = async () => {
      const [event, line, holds, people, log, ...prefixes] = eventKeys(eventId);
      let bytes = 0;
      for (const key of [event, line, holds, people]) bytes += (await redis.memory("USAGE", key)) ?? 0;
      for (const prefix of prefixes) {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix.replace(/[{}]/g, "\\$&")}*`, "COUNT", 1000);
          for (const key of keys) bytes += (await redis.memory("USAGE", key)) ?? 0;
          cursor = next;
        } while (cursor !== "0");
      }
      return { bytes, logBytes: (await redis.memory("USAGE", log)) ?? 0 };
    };
    const before = await memoryOfEvent();
    // The client books as fast as its address's bucket allows (RATE_IP_PER_S a second), each
    // time as a new person with a new Idempotency-Key, and cancels at once, until refused.
    let nowMs = Date.now();
    let made = 0;
    let refusedBy = "";
    for (let n = 0; n < defaults.antiBot.ipBookingsMax + 50; n++) {
      nowMs += Math.ceil(1000 / defaults.antiBot.rateIpPerS);
      const request = {
        eventId,
        userId: `abuser-${n}@example.com`,
        quantity: 1,
        email: `abuser-${n}@example.com`,
        idempotencyKey: `k-${n}-0190d7a0-0000-7000`,
        gate,
      };
      const held = await engineAtDefaults.hold(request, nowMs).catch((error: EngineError) => error);
      if (held instanceof EngineError) {
        refusedBy = held.code;
        continue;
      }
      made++;
      await engineAtDefaults.cancel(held.id, held.token, nowMs);
    }
    const after = await memoryOfEvent();
    const perHourBytes = after.bytes - before.bytes;
    const logPerHourBytes = after.logBytes - before.logBytes;
    console.log(
      `one address, one event, one hour at the default limits: ${made} bookings made, then ${refusedBy}; ` +
        `${(perHourBytes / 1024).toFixed(0)} kB of keys (${Math.round(perHourBytes / made)} B a booking), ` +
        `${(logPerHourBytes / 1024).toFixed(0)} kB of log until the relay trims it`,
    );
    expect(made).toBe(defaults.antiBot.ipBookingsMax);
    expect(refusedBy).toBe("IP_BOOKING_LIMIT");
    expect(perHourBytes).toBeLessThan(1024 * 1024);
  });
});
