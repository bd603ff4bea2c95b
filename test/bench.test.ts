import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { Redis } from "ioredis";
import { loadConfig } from "../engine/config.js";
import { Engine } from "../engine/engine.js";
import { bookingKey, eventKey } from "../engine/keys.js";
import { createPool } from "../sql/db.js";
import { dropEvent, scratchEvent } from "../testkit/fixtures.js";
import { headline, verdict } from "../bench/costs.js";
import { writeResults } from "../bench/report.js";
import { runBench } from "../bench/run.js";
import { DEFAULTS } from "../bench/setup.js";
import { verifyOnSale } from "../testkit/verify.js";

// The benchmark in miniature: every run side by side, the on-sale's mix and the invariants,
// with numbers small enough for CI. Speeds are reported by `npm run bench`, never asserted.

const outDir = mkdtempSync(join(tmpdir(), "onsale-bench-"));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe("benchmark smoke run", () => {
  it("runs every comparison, settles the on-sale and finds every invariant held", async () => {
    const result = await runBench({
      ...DEFAULTS,
      people: 1500,
      tickets: 150,
      // One HTTP process and one load thread: the smoke run shares the machine with the other
      // test files, and several processes on one port are shown by `npm run bench -- --workers 2`.
      workers: 1,
      threads: 1,
      connections: 10,
      seconds: 1,
      holdSeconds: 1,
      memoryPeople: 500,
      redisUrl: inject("redisUrl"),
      databaseUrl: inject("databaseUrl"),
      bossSchema: `pgboss_bench_${process.env.VITEST_POOL_ID ?? "0"}`,
      outDir,
      settleTimeoutMs: 30_000,
    });
    expect(result.invariants).toMatchObject({
      ok: true,
      oversold: 0,
      fcfsViolations: 0,
      missingRows: 0,
      duplicateRows: 0,
    });
    for (const run of Object.values(result.runs)) {
      expect(run.requests).toBeGreaterThan(0);
      expect(run.errors).toBe(0);
    }
    expect(result.runs.engine.requests).toBe(1500);
    // Everything sold, the rest of the line turned away; the mix paid, cancelled and let expire.
    expect(result.onSale.redis).toMatchObject({ paid: 150, held: 0, instock: 0, capacity: 150 });
    expect(result.onSale.postgres.paid!.tickets).toBe(150);
    const mix = result.onSale.mix;
    expect(mix.payOutcomes.paid).toBeGreaterThan(0);
    expect(mix.cancelSent + mix.leftToExpire).toBeGreaterThan(0);
    expect(mix.droppedFromLine).toBeGreaterThan(0);
    expect(mix.failures).toBe(0);
    expect(result.onSale.postgresDesign.ok).toBe(true);
    expect(result.memory.waiting.bytesPerWaiting).toBeGreaterThan(0);

    const files = writeResults(result, outDir, "smoke");
    const json = JSON.parse(readFileSync(files.json, "utf8"));
    expect(Object.keys(json.runs)).toEqual(
      expect.arrayContaining(["httpCeiling", "redisCeiling", "engine", "postgres"]),
    );
    const html = readFileSync(files.html, "utf8");
    expect(html).toContain("<svg");
    expect(html).toContain(headline(verdict(result)));
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3)/);
  }, 120_000);
});

describe("benchmark verification", () => {
  it("fails a run whose stock does not add up, whose paid bookings are not in PostgreSQL, or whose holds went out of arrival order", async () => {
    const redis = new Redis(inject("redisUrl"));
    const pool = createPool(inject("databaseUrl"), 2);
    const engine = new Engine(redis, loadConfig({ REDIS_URL: inject("redisUrl") }));
    const event = scratchEvent(10);
    await engine.loadEvent(event, 0);
    try {
      const booking = await engine.hold({
        eventId: event.id,
        userId: "verify-1",
        quantity: 2,
        email: "",
        idempotencyKey: "",
      });
      const second = await engine.hold({
        eventId: event.id,
        userId: "verify-2",
        quantity: 1,
        email: "",
        idempotencyKey: "",
      });
      const clean = await verifyOnSale(engine, pool, event.id, 0);
      expect(clean.problems).toEqual([]);
      expect(clean.fcfsViolations).toBe(0);
      // One ticket too many in stock, a booking paid in Redis that PostgreSQL never saw, and the
      // two holds' grant numbers swapped: the later arrival held first.
      await redis.hincrby(eventKey(event.id), "instock", 1);
      await redis.hset(bookingKey(event.id, booking.id), "state", "paid", "hseq", 2);
      await redis.hset(bookingKey(event.id, second.id), "hseq", 1);
      const broken = await verifyOnSale(engine, pool, event.id, 0);
      expect(broken.ok).toBe(false);
      expect(broken.missingRows).toBe(1);
      expect(broken.fcfsViolations).toBe(1);
      expect(broken.problems.join(" ")).toMatch(/invariant broken/);
      expect(broken.problems.join(" ")).toMatch(/hold 2 went to arrival 1 after hold 1 went to arrival 2/);
    } finally {
      await dropEvent(redis, event.id);
      redis.disconnect();
      await pool.end();
    }
  });
});
