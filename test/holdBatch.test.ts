import fc from "fast-check";
import { afterAll, describe, expect, inject, it } from "vitest";
import { dropEvent, scratchEvent } from "../testkit/fixtures.js";
import { loadConfig } from "../engine/config.js";
import type { Gate } from "../engine/admission.js";
import { Engine, type HoldRequest } from "../engine/engine.js";
import { bookingKey } from "../engine/keys.js";
import { connectRedis } from "../engine/redis.js";
import { checkInvariant } from "./helpers.js";

// Group commit (HOLD_BATCH=on): holds sent together must get exactly the answers they would
// get one by one, in the order they arrived, with the stock invariant intact.

// Token buckets never empty here: their answers depend on time, which single and batched runs spend differently.
// The sold-out memo is off: it answers before either path reaches Redis, and one by one it
// would answer holds that concurrent ones, all sent before the first refusal, send on.
const env = {
  REDIS_URL: inject("redisUrl"),
  REDIS_CLUSTER_NODES: process.env.REDIS_CLUSTER_NODES ?? "",
  LINE_MAX: "1000",
  RATE_IP_BURST: "10000",
  RATE_USER_BURST: "10000",
  SOLD_OUT_MEMO_MS: "0",
};
const redis = connectRedis(loadConfig(env).redis);
const single = new Engine(redis, loadConfig(env));
const batched = new Engine(redis, loadConfig({ ...env, HOLD_BATCH: "on", HOLD_BATCH_MAX: "7" }));
afterAll(() => redis.disconnect());

type Outcome = string;

/** A client's gate; its proof, when it has one, is a solved challenge whose nonce is k. */
function gateFor(eventId: string, k: number): Gate {
  const proof =
    k < 0 ? null : { challenge: `c${k}`, eventId, bits: 8, expiresAtMs: Date.now() + 60_000, nonce: `n${k}` };
  return { clientIp: "198.51.100.7", proof, proofSent: proof !== null };
}

async function outcome(engine: Engine, request: HoldRequest): Promise<Outcome> {
  try {
    const booking = await engine.hold(request);
    return `${booking.kind}:${booking.status}:${booking.position}`;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

describe("hold batching", () => {
  it("answers concurrent batched holds as the same holds one by one, in arrival order, gate included", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom(0, 8),
        // proof: undefined = an internal caller, -1 = a client without a proof, k = a client with proof nonce k
        fc.array(
          fc.record({
            user: fc.integer({ min: 0, max: 15 }),
            quantity: fc.integer({ min: 1, max: 5 }),
            proof: fc.option(fc.integer({ min: -1, max: 3 }), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        async (capacity, powBits, asks) => {
          const one = { ...scratchEvent(capacity), powBits };
          const many = { ...scratchEvent(capacity), powBits };
          await single.loadEvent(one, 0);
          await batched.loadEvent(many, 0);
          try {
            const request = (
              eventId: string,
              ask: { user: number; quantity: number; proof: number | undefined },
            ): HoldRequest => ({
              eventId,
              userId: `u${ask.user}`,
              quantity: ask.quantity,
              email: "",
              idempotencyKey: "",
              ...(ask.proof === undefined ? {} : { gate: gateFor(eventId, ask.proof) }),
            });
            const expected: Outcome[] = [];
            for (const ask of asks) expected.push(await outcome(single, request(one.id, ask)));
            const actual = await Promise.all(asks.map((ask) => outcome(batched, request(many.id, ask))));
            expect(actual).toEqual(expected);
            const tally = await checkInvariant(batched, many.id);
            expect(tally).toEqual(await checkInvariant(single, one.id));
          } finally {
            await dropEvent(redis, one.id);
            await dropEvent(redis, many.id);
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it("grants holds in arrival order when batches fill up under load", async () => {
    const event = scratchEvent(250);
    await batched.loadEvent(event, 0);
    try {
      const bookings = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          batched.hold({ eventId: event.id, userId: `p${i}`, quantity: 1 + (i % 2), email: "", idempotencyKey: "" }),
        ),
      );
      const seqs = await Promise.all(bookings.map((b) => redis.hmget(bookingKey(event.id, b.id), "seq", "hseq")));
      const held = seqs
        .map(([seq, hseq], i) => ({ i, seq: Number(seq), hseq: Number(hseq) }))
        .filter((b) => b.hseq > 0);
      // Arrival sequence follows the order the holds were asked; holds follow arrival.
      expect(seqs.map(([seq]) => Number(seq))).toEqual(seqs.map((_, i) => i + 1));
      expect(held.map((b) => b.seq)).toEqual([...held].sort((a, b) => a.hseq - b.hseq).map((b) => b.seq));
      expect(bookings.filter((b) => b.status === "waiting").length).toBeGreaterThan(0);
      await checkInvariant(batched, event.id);
    } finally {
      await dropEvent(redis, event.id);
    }
  });
});
