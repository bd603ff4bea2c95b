import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { freePort } from "../bin/app.js";
import { bookingKey, holdsKey, lineKey } from "../engine/keys.js";
import { countEvents, paidTickets } from "../sql/events.js";
import { ensureDatabase } from "../sql/migrate.js";
import { bookingsInPostgres } from "../testkit/verify.js";
import { ADMIN_TOKEN, completedEvent, useTestEngine, waitFor } from "./helpers.js";

// Operations after a Redis loss: FLUSHALL on a redis-server of this file's own, then the
// CLI's `reconcile`, `cache warm --on-sale` and `reconcile --repair` bring every event back
// to capacity − paid from PostgreSQL, and the engine sells on correctly.

const run = promisify(execFile);
let redisServer: ChildProcess;
let redisUrl = "";
// A database of this file's own too: `reconcile` covers every on-sale event, and other test
// files create and sell events in the shared test database at the same time.
const databaseUrl = (() => {
  const url = new URL(inject("databaseUrl"));
  url.pathname = `${url.pathname}_operations`;
  return url.toString();
})();

/** A redis-server of this file's own; resolves once it answers. */
async function startRedis(): Promise<{ server: ChildProcess; url: string }> {
  const port = await freePort();
  const server = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  const url = `redis://127.0.0.1:${port}`;
  process.once("exit", () => server.kill("SIGTERM")); // also when a failing hook skips afterAll
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  probe.on("error", () => undefined); // refused until the server is up
  await waitFor(
    () => probe.ping().catch(() => "down"),
    (reply) => reply === "PONG",
    10_000,
    100,
  );
  probe.disconnect();
  return { server, url };
}

// A second Redis for an engine without the work role: no relay copies its log unless a test
// runs a pass itself.
let quietRedisServer: ChildProcess;
let quietRedisUrl = "";

beforeAll(async () => {
  await ensureDatabase(databaseUrl);
  ({ server: redisServer, url: redisUrl } = await startRedis());
  ({ server: quietRedisServer, url: quietRedisUrl } = await startRedis());
});
afterAll(() => {
  redisServer.kill("SIGTERM");
  quietRedisServer.kill("SIGTERM");
});

const ctx = useTestEngine(() => ({ REDIS_URL: redisUrl, DATABASE_URL: databaseUrl, HOLD_SECONDS: "60" }), {
  work: true,
});
const quiet = useTestEngine(() => ({ REDIS_URL: quietRedisUrl, DATABASE_URL: databaseUrl, HOLD_SECONDS: "60" }), {
  work: false,
});

/** Runs the real CLI against this file's Redis (or another) and the test database. */
async function onsale(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return onsaleOn(redisUrl, ...args);
}

async function onsaleOn(redis: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, REDIS_URL: redis, DATABASE_URL: databaseUrl, LOG_LEVEL: "silent" };
  try {
    const { stdout, stderr } = await run("npx", ["tsx", "bin/onsale.ts", ...args], { env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const paidInDb = (eventId: string): Promise<number> => paidTickets(ctx.running.pool, eventId);

/** The event's counters, which must add up, and how many bookings its hold index and line name. */
async function counters(eventId: string) {
  const live = (await ctx.running.engine.liveEvent(eventId))!;
  expect(live.instock + live.held + live.paid).toBe(live.capacity);
  const redis = ctx.running.engine.redis;
  return {
    instock: live.instock,
    held: live.held,
    paid: live.paid,
    capacity: live.capacity,
    holds: await redis.zcard(holdsKey(eventId)),
    line: await redis.zcard(lineKey(eventId)),
  };
}

async function pay(eventId: string, userId: string, quantity: number) {
  const answer = await ctx.client.book(eventId, userId, quantity);
  expect(answer.status).toBe(201);
  expect((await ctx.client.webhook(completedEvent({ id: answer.body.id, eventId }, quantity * 5000))).status).toBe(200);
  return answer.body;
}

describe("operations after a Redis loss", () => {
  it("after FLUSHALL, cache warm + reconcile --repair restore instock = capacity − paid and selling goes on", async () => {
    const a = await ctx.client.eventId({ name: "Warm A", capacity: 10, maxPerUser: 4 });
    const b = await ctx.client.eventId({ name: "Warm B", capacity: 5, maxPerUser: 4 });
    await pay(a, "ops-a1", 2);
    await pay(a, "ops-a2", 1);
    await pay(b, "ops-b1", 2);
    expect((await ctx.client.book(a, "ops-a3", 1)).status).toBe(201); // a live hold, lost with Redis
    await waitFor(
      async () => [await paidInDb(a), await paidInDb(b)],
      ([pa, pb]) => pa === 3 && pb === 2,
    );
    // Let the relay write the held booking too, so its arrival number is in PostgreSQL.
    await waitFor(
      () => bookingsInPostgres(ctx.running.pool, a),
      (n) => n === 3,
    );

    await ctx.running.engine.redis.flushall();
    expect(await ctx.running.engine.liveEvent(a)).toBeNull();

    const report = await onsale("reconcile", a);
    expect(report.code).toBe(2);
    expect(report.stdout).toContain(`${a}: missing`);

    const warm = await onsale("cache", "warm", "--on-sale");
    expect(warm.stderr).toContain("cache warm [");
    expect(warm.stdout).toContain(`${a}: instock 7, held 0, paid 3, capacity 10`);
    expect(warm.stdout).toContain(`${b}: instock 3, held 0, paid 2, capacity 5`);
    const repair = await onsale("reconcile", "--repair");
    expect(repair.stdout).toMatch(/event\(s\) checked, 0 with drift/);
    expect(repair.code).toBe(0);

    // Paid bookings' hashes went with Redis (PostgreSQL keeps them), so the counters are
    // checked against PostgreSQL rather than recounted from hashes (checkInvariant).
    for (const [eventId, capacity] of [
      [a, 10],
      [b, 5],
    ] as const) {
      expect(await counters(eventId)).toEqual({
        instock: capacity - (await paidInDb(eventId)),
        held: 0,
        paid: await paidInDb(eventId),
        capacity,
        holds: 0,
        line: 0,
      });
    }

    // The per-person limit remembers what ops-a1 paid for before the loss.
    const over = await ctx.client.book(a, "ops-a1", 3);
    expect(over.status).toBe(409);
    expect(over.body.type).toMatch(/per-person-limit/);
    // New bookings get fresh arrival numbers: the relay writes them next to the old ones.
    const fresh = await Promise.all(Array.from({ length: 8 }, (_, i) => ctx.client.book(a, `ops-new-${i}`, 1)));
    expect(fresh.filter((f) => f.status === 201)).toHaveLength(7);
    expect(fresh.filter((f) => f.status === 202)).toHaveLength(1);
    const first = fresh.find((f) => f.status === 201)!.body;
    await ctx.client.webhook(completedEvent({ id: first.id, eventId: a }, 5000));
    await waitFor(
      () => paidInDb(a),
      (paid) => paid === 4,
      15_000,
    );
    await waitFor(
      () => bookingsInPostgres(ctx.running.pool, a),
      (n) => n === 3 + 8,
      15_000,
    );
    expect(await counters(a)).toEqual({ instock: 0, held: 6, paid: 4, capacity: 10, holds: 6, line: 1 });
    expect((await onsale("reconcile")).code).toBe(0);
  });

  it("cache flush drops display fields only; admin routes warm and reconcile with the admin token", async () => {
    const eventId = await ctx.client.eventId({ name: "Flush Me", capacity: 4 });
    await ctx.client.book(eventId, "flush-1", 1);
    const flushed = await ctx.client.request("DELETE", `/admin/events/${eventId}/cache`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(flushed.status).toBe(200);
    const live = (await ctx.running.engine.liveEvent(eventId))!;
    expect(live.fields.name).toBeUndefined();
    expect(live).toMatchObject({ instock: 3, held: 1, capacity: 4 });
    // Read-through fills the cache again from PostgreSQL.
    expect((await ctx.client.request("GET", `/events/${eventId}`)).body).toMatchObject({
      name: "Flush Me",
      instock: 3,
    });
    expect((await ctx.running.engine.liveEvent(eventId))!.fields.name).toBe("Flush Me");

    expect((await ctx.client.request("POST", `/admin/events/${eventId}/cache`)).status).toBe(401);
    const warmed = await ctx.client.request("POST", `/admin/events/${eventId}/cache`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(warmed.body).toMatchObject({ eventId, instock: 3, held: 1, paid: 0, capacity: 4 });
    const missing = await ctx.client.request("POST", `/admin/events/00000000-0000-7000-8000-000000000000/cache`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(missing.status).toBe(404);
    expect(missing.contentType).toContain("application/problem+json");
    const reconcile = await ctx.client.request("POST", "/admin/reconcile", {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(reconcile.status).toBe(200);
    expect(reconcile.body.data.find((d: { eventId: string }) => d.eventId === eventId)).toBeUndefined();
  });

  it("a payment applied before the relay copied its booking survives a Redis loss: restored as paid, or refunded when nobody is known", async () => {
    const { client, running } = quiet;
    const eventId = await client.eventId({ name: "Unrelayed", capacity: 3, maxPerUser: 2 });
    // Relayed as held, then paid: PostgreSQL's row still says held.
    const relayedHold = (await client.book(eventId, "ops-unrelayed", 2)).body;
    await running.relay.pass();
    expect((await client.webhook(completedEvent({ id: relayedHold.id, eventId }, 10000))).body.outcome).toBe("paid");
    // Held and paid before any relay pass: PostgreSQL knows only the payment.
    const unknown = (await client.book(eventId, "ops-never-relayed", 1)).body;
    expect((await client.webhook(completedEvent({ id: unknown.id, eventId }, 5000))).body.outcome).toBe("paid");
    expect(await paidTickets(running.pool, eventId)).toBe(0);

    await running.engine.redis.flushall();
    const report = await onsaleOn(quietRedisUrl, "reconcile", eventId);
    expect(report.code).toBe(2);
    expect(report.stdout).toContain(`${eventId}: missing`);
    expect(report.stdout).toContain(
      `${eventId}: payment_lost: redis absent | postgres booking ${relayedHold.id} paid by cs_test_${relayedHold.id}`,
    );
    expect(report.stdout).toContain(
      `${eventId}: payment_lost: redis absent | postgres booking ${unknown.id} paid by cs_test_${unknown.id}`,
    );

    const warm = await onsaleOn(quietRedisUrl, "cache", "warm", eventId);
    expect(warm.stdout).toContain(`${eventId}: instock 1, held 0, paid 2, capacity 3`);
    const repair = await onsaleOn(quietRedisUrl, "reconcile", "--repair", eventId);
    expect(repair.stdout).toMatch(/1 event\(s\) checked, 0 with drift/);

    // The booking is paid again, and the relay writes it as paid.
    const redis = running.engine.redis;
    expect(await redis.hget(bookingKey(eventId, relayedHold.id), "state")).toBe("paid");
    await running.relay.pass();
    expect(await paidTickets(running.pool, eventId)).toBe(2);
    // Its tickets are not sold again, and the person's limit remembers them.
    expect((await client.book(eventId, "ops-unrelayed", 1)).body.type).toMatch(/per-person-limit/);
    // Nobody is known for the other booking: its payment goes back through the repair pass
    // (this one, or the work role of the file's other engine, which shares the database).
    await running.ingest.repairStale(0, 100);
    const after = await running.pool.query("SELECT status FROM payments WHERE booking_id = $1", [unknown.id]);
    expect(after.rows).toEqual([{ status: "refund_due" }]);
    expect((await running.engine.liveEvent(eventId))!).toMatchObject({ instock: 1, held: 0, paid: 2 });
  });
});

describe("the command line", () => {
  it("prints the usage for --help and refuses unknown options, bad values and stray words before doing anything", async () => {
    const eventsBefore = await countEvents(ctx.running.pool);
    const help = await onsale("generate", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("onsale generate [--events N] [--seed S] [--batch B]");

    const refusals = [
      ["generate", "--bogus"],
      ["generate", "--events", "1x"],
      ["generate", "--events"],
      ["reconcile", "--repair", "a", "b"],
      ["cache", "nope"],
      ["cache", "warm", "not-a-uuid"],
      ["payments", "--limit", "0"],
      ["relay", "list", "7"],
      ["frobnicate"],
    ];
    for (const args of refusals) {
      const refused = await onsale(...args);
      expect(refused.code, args.join(" ")).toBe(2);
      expect(refused.stderr, args.join(" ")).toMatch(/usage: onsale|must be a whole number/);
    }
    // `generate --bogus` used to insert 100,000 catalogue events with the defaults.
    expect(await countEvents(ctx.running.pool)).toBe(eventsBefore);
  }, 180_000); // ten process starts, each a few seconds on a busy machine
});
