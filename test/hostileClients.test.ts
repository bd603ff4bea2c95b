import { afterAll, describe, expect, inject, it } from "vitest";
import { dropEvent, scratchEvent } from "../testkit/fixtures.js";
import { Admission, type Gate } from "../engine/admission.js";
import { loadConfig } from "../engine/config.js";
import { Engine, type EventRecord, type HoldRequest } from "../engine/engine.js";
import { EngineError } from "../engine/errors.js";
import { issueChallenge, solve } from "../engine/pow.js";
import { connectRedis } from "../engine/redis.js";

// What one hostile client can do to others through the hold script, against real Redis at
// the engine's boundary (Engine.hold with a client's gate): lock a person out, learn another
// person's booking id, or make Redis memory grow.

const env = { REDIS_URL: inject("redisUrl"), REDIS_CLUSTER_NODES: process.env.REDIS_CLUSTER_NODES ?? "" };
const config = loadConfig({ ...env, RATE_IP_PER_S: "1000", RATE_IP_BURST: "1000", RATE_USER_PER_S: "2", RATE_USER_BURST: "5" });
const redis = connectRedis(config);
const engine = new Engine(redis, config);
const admission = new Admission(redis, config);
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
    for (let n = 0; n < 12; n++) expect(await refusal(holdFrom(eventId, "victim", attacker(n % 2 === 0)))).toMatch(/^POW_(REQUIRED|INVALID)$/);

    const { challenge } = issueChallenge(config.powSecret, eventId, 8, config.powTtlMs);
    const gate = admission.gateOf({ eventId, clientIp: "203.0.113.5", powChallenge: challenge, powSolution: solve(challenge, 8) });
    expect(gate.proof).not.toBeNull();
    expect((await holdFrom(eventId, "victim", gate)).kind).toBe("held");
  });

  it("a replayed proof does not charge the user's bucket either", async () => {
    const eventId = await liveEvent({ powBits: 4 });
    const { challenge } = issueChallenge(config.powSecret, eventId, 4, config.powTtlMs);
    const gate = admission.gateOf({ eventId, clientIp: "198.51.100.67", powChallenge: challenge, powSolution: solve(challenge, 4) });
    expect(await refusal(holdFrom(eventId, "someone-else", gate))).toBe("ok");
    for (let n = 0; n < 8; n++) expect(await refusal(holdFrom(eventId, "victim-2", gate))).toBe("POW_REUSED");
    const fresh = issueChallenge(config.powSecret, eventId, 4, config.powTtlMs).challenge;
    const own = admission.gateOf({ eventId, clientIp: "203.0.113.6", powChallenge: fresh, powSolution: solve(fresh, 4) });
    expect((await holdFrom(eventId, "victim-2", own)).kind).toBe("held");
  });

  it("the client's own IP bucket is still charged by its refused requests", async () => {
    const tight = loadConfig({ ...env, RATE_IP_PER_S: "1", RATE_IP_BURST: "3" });
    const strict = new Engine(redis, tight);
    const eventId = await liveEvent({ powBits: 8 });
    const gate: Gate = { clientIp: "198.51.100.68", proof: null, proofSent: false };
    const nowMs = Date.now();
    const codes: string[] = [];
    for (let n = 0; n < 4; n++) codes.push(await refusal(strict.hold({ eventId, userId: `u${n}`, quantity: 1, email: "", idempotencyKey: "", gate }, nowMs)));
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
    const verified = await holdFrom(eventId, "alice", gate, { identityVerified: true }).catch((error: EngineError) => error);
    expect(verified).toMatchObject({ code: "OPEN_BOOKING_EXISTS", detail: first.id });
    // Internal callers (no gate) follow the same flag.
    const internal = await engine.hold({ eventId, userId: "alice", quantity: 1, email: "", idempotencyKey: "" }).catch((error: EngineError) => error);
    expect(internal).toMatchObject({ code: "OPEN_BOOKING_EXISTS", detail: "" });

    // The same through hold_batch.lua, which carries the flag per request.
    const batching = new Engine(redis, loadConfig({ ...env, HOLD_BATCH: "on" }));
    const [hidden, named] = await Promise.all([
      batching.hold({ eventId, userId: "alice", quantity: 1, email: "", idempotencyKey: "", gate }).catch((error: EngineError) => error),
      batching.hold({ eventId, userId: "alice", quantity: 1, email: "", idempotencyKey: "", gate, identityVerified: true }).catch((error: EngineError) => error),
    ]);
    expect(hidden).toMatchObject({ code: "OPEN_BOOKING_EXISTS", detail: "" });
    expect(named).toMatchObject({ code: "OPEN_BOOKING_EXISTS", detail: first.id });
  });
});
