import fc from "fast-check";
import { Agent } from "undici";
import { describe, expect, it } from "vitest";
import { EngineError, type EngineErrorCode } from "../engine/errors.js";
import { bookingKey, eventKey, eventKeys } from "../engine/keys.js";
import { EVENT } from "../engine/schema.js";
import { checkInvariant, completedEvent, useTestEngine } from "./helpers.js";

const ctx = useTestEngine();

describe("2,000 people at once for 100 tickets", () => {
  it("holds exactly 100, queues 1,900 in arrival order, and keeps the invariant at every step (emfcamp #1901, #879)", async () => {
    const eventId = await ctx.client.eventId({ capacity: 100 });
    const dispatcher = new Agent({ connections: 256, pipelining: 0 });
    const answers = await Promise.all(
      Array.from({ length: 2000 }, (_, i) =>
        fetch(`${ctx.client.base}/bookings`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ eventId, userId: `crowd-${i}`, quantity: 1 }),
          // @ts-expect-error undici's dispatcher option is not in the DOM fetch types
          dispatcher,
        }).then(async (response) => ({ status: response.status, body: (await response.json()) as any })),
      ),
    );
    await dispatcher.close();
    const held = answers.filter((a) => a.status === 201);
    const waiting = answers.filter((a) => a.status === 202);
    expect(held).toHaveLength(100);
    expect(waiting).toHaveLength(1900);

    // Arrival order is the sequence Redis gave each booking; positions must follow it exactly.
    const seqOf = async (id: string) => Number(await ctx.running.engine.redis.hget(bookingKey(eventId, id), "seq"));
    const waitingBySeq = await Promise.all(
      waiting.map(async (a) => ({ seq: await seqOf(a.body.id), position: a.body.position })),
    );
    waitingBySeq.sort((x, y) => x.seq - y.seq);
    expect(waitingBySeq.map((w) => w.position)).toEqual(Array.from({ length: 1900 }, (_, i) => i + 1));
    const heldSeqs = await Promise.all(held.map((a) => seqOf(a.body.id)));
    expect(Math.max(...heldSeqs)).toBeLessThan(waitingBySeq[0]!.seq);
    expect(await checkInvariant(ctx.running.engine, eventId)).toMatchObject({
      instock: 0,
      held: 100,
      paid: 0,
      waiting: 1900,
    });

    // Pay 50, cancel 50: the 50 cancelled come back to the first 50 in line, in order.
    for (const [i, a] of held.entries()) {
      if (i % 2 === 0) await ctx.client.webhook(completedEvent({ id: a.body.id, eventId }, 5000));
      else await ctx.client.cancel(a.body.id, a.body.token);
      await checkInvariant(ctx.running.engine, eventId);
    }
    const firstFifty = waiting.filter((a) => a.body.position <= 50);
    const statuses = await Promise.all(
      firstFifty.map(async (a) => (await ctx.client.get(a.body.id, a.body.token)).body.status),
    );
    expect(statuses.every((s) => s === "held")).toBe(true);
    const next = waiting.find((a) => a.body.position === 51)!;
    expect(await ctx.client.get(next.body.id, next.body.token)).toMatchObject({
      body: { status: "waiting", position: 1 },
    });
    expect(await checkInvariant(ctx.running.engine, eventId)).toMatchObject({
      instock: 0,
      held: 50,
      paid: 50,
      waiting: 1850,
    });
  });
});

describe("the stock invariant is checked before anything is written", () => {
  it("a hold on an event whose counters do not add up fails, and leaves stock, bookings, index, people and log as they were", async () => {
    const engine = ctx.running.engine;
    const eventId = await ctx.client.eventId({ capacity: 2 });
    // instock 2 + held 1 + paid 0 != capacity 2: taking a hold must fail in moveStock, not write.
    await engine.redis.hincrby(eventKey(eventId), EVENT.held, 1);
    const [, line, holds, people, log] = eventKeys(eventId);
    const snapshot = async () => ({
      event: await engine.redis.hmget(eventKey(eventId), EVENT.instock, EVENT.held, EVENT.paid),
      sizes: await Promise.all([
        engine.redis.zcard(line),
        engine.redis.zcard(holds),
        engine.redis.hgetall(people),
        engine.redis.xlen(log),
      ]),
    });
    const before = await snapshot();
    await expect(
      engine.hold({ eventId, userId: "corrupt-1", quantity: 1, email: "", idempotencyKey: "" }),
    ).rejects.toThrow(/invariant: instock 1 \+ held 2/);
    expect(await snapshot()).toEqual(before);
    await expect(checkInvariant(engine, eventId)).rejects.toThrow(/counters held 1/);
  });
});

describe("randomized on-sales (fast-check)", () => {
  type Op =
    | { kind: "book"; user: number; quantity: number }
    | { kind: "cancel"; user: number }
    | { kind: "pay"; user: number }
    | { kind: "advance"; ms: number };

  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant("book" as const),
        user: fc.nat(11),
        quantity: fc.integer({ min: 1, max: 4 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("cancel" as const), user: fc.nat(11) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("pay" as const), user: fc.nat(11) }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 1, max: 400_000 }) }),
    },
  );

  /** Lets through the refusals a step may meet; any other error (a script that failed) fails the property. */
  const refusedWith =
    (...codes: EngineErrorCode[]) =>
    (error: unknown): null => {
      if (error instanceof EngineError && codes.includes(error.code)) return null;
      throw error;
    };

  it("never oversells, and grants holds in arrival order, whatever people do (the pretix fork that skipped a lock)", async () => {
    const engine = ctx.running.engine;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.array(op, { minLength: 5, maxLength: 40 }),
        async (capacity, ops) => {
          const eventId = await ctx.client.eventId({ capacity, maxPerUser: 4 });
          // The engine takes the clock as an argument, so holds can expire without waiting.
          let nowMs = Date.now();
          const latest = new Map<number, { id: string; token: string }>();
          const every: string[] = [];
          for (const step of ops) {
            if (step.kind === "advance") {
              nowMs += step.ms;
              await engine.sweep(eventId, nowMs);
            } else if (step.kind === "book") {
              const booking = await engine
                .hold(
                  { eventId, userId: `p${step.user}`, quantity: step.quantity, email: "", idempotencyKey: "" },
                  nowMs,
                )
                .catch(refusedWith("SOLD_OUT", "PER_PERSON_LIMIT", "OPEN_BOOKING_EXISTS", "LINE_FULL"));
              if (booking) {
                latest.set(step.user, booking);
                every.push(booking.id);
              }
            } else {
              const booking = latest.get(step.user);
              if (!booking) continue;
              if (step.kind === "cancel")
                await engine.cancel(booking.id, booking.token, nowMs).catch(refusedWith("NOT_CANCELLABLE"));
              else {
                const current = await engine.status(booking.id, booking.token);
                await engine.confirm(eventId, booking.id, `cs_${booking.id}`, current.amount, "eur", nowMs);
              }
            }
            await checkInvariant(engine, eventId);
          }
          // FCFS: the order holds were granted in follows the order people arrived in, over every
          // booking made (checkInvariant also replays the log for heads dropped or still waiting).
          const granted: { seq: number; hseq: number }[] = [];
          for (const id of every) {
            const [seq, hseq] = await engine.redis.hmget(bookingKey(eventId, id), "seq", "hseq");
            if (Number(hseq) > 0) granted.push({ seq: Number(seq), hseq: Number(hseq) });
          }
          granted.sort((a, b) => a.hseq - b.hseq);
          for (let i = 1; i < granted.length; i++) expect(granted[i]!.seq).toBeGreaterThan(granted[i - 1]!.seq);
        },
      ),
      { numRuns: 40 },
    );
  });
});
