import fc from "fast-check";
import { afterAll, describe, expect, inject, it } from "vitest";
import { dropEvent, scratchEvent } from "../testkit/fixtures.js";
import { loadConfig } from "../engine/config.js";
import { Engine } from "../engine/engine.js";
import type { EngineError } from "../engine/errors.js";
import { connectRedis } from "../engine/redis.js";

// The token bucket of the hold script's gate (lua/includes/gate.lua) against real Redis,
// over randomized arrival times: it never lets more through than burst + rate × elapsed, a
// full burst at one instant passes, and a request a full refill interval after the previous
// one always passes. Every request is a new person, so only the IP bucket can refuse.

const env = { REDIS_URL: inject("redisUrl"), REDIS_CLUSTER_NODES: process.env.REDIS_CLUSTER_NODES ?? "" };
const redis = connectRedis(loadConfig(env).redis);
afterAll(() => redis.disconnect());

describe("token bucket", () => {
  it("admits at most burst + rate × elapsed, and never refuses after a refill interval", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 10 }),
        fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000 })), { minLength: 1, maxLength: 60 }),
        async (perS, burst, gapsMs) => {
          const engine = new Engine(
            redis,
            loadConfig({
              ...env,
              RATE_IP_PER_S: String(perS),
              RATE_IP_BURST: String(burst),
              RATE_USER_PER_S: "1000000",
              RATE_USER_BURST: "1000000",
            }),
          );
          const event = scratchEvent(100);
          const eventId = event.id;
          let nowMs = 1_700_000_000_000;
          await engine.loadEvent({ ...event, startsAt: new Date(nowMs + 86_400_000) }, 0);
          const admittedAtMs: number[] = [];
          let previousMs = -Infinity;
          try {
            for (const [n, gapMs] of gapsMs.entries()) {
              nowMs += gapMs;
              const gate = { clientIp: "192.0.2.1", proof: null, proofSent: false };
              const request = { eventId, userId: `u${n}`, quantity: 1, email: "", idempotencyKey: "", gate };
              const admitted = await engine.hold(request, nowMs).then(
                () => true,
                (error: EngineError) => {
                  expect(error.code).toBe("RATE_LIMITED");
                  expect(Number(error.detail.split(":")[1])).toBeGreaterThan(0);
                  return false;
                },
              );
              if (nowMs - previousMs >= Math.ceil(1000 / perS)) expect(admitted).toBe(true);
              if (admitted) admittedAtMs.push(nowMs);
              previousMs = nowMs;
            }
          } finally {
            await dropEvent(redis, eventId);
          }
          for (let i = 0; i < admittedAtMs.length; i++) {
            for (let j = i; j < admittedAtMs.length; j++) {
              expect(j - i + 1).toBeLessThanOrEqual(
                Math.floor(burst + (perS * (admittedAtMs[j]! - admittedAtMs[i]!)) / 1000 + 1e-9),
              );
            }
          }
          const leadingSameInstant = gapsMs.slice(1).findIndex((gap) => gap !== 0);
          const atStart = leadingSameInstant === -1 ? gapsMs.length : leadingSameInstant + 1;
          expect(admittedAtMs.filter((t) => t === admittedAtMs[0]).length).toBe(Math.min(burst, atStart));
        },
      ),
      { numRuns: 60 },
    );
  });
});
