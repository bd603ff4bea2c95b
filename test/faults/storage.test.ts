import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../bin/app.js";
import { checkInvariant } from "../../engine/audit.js";
import { loadConfig } from "../../engine/config.js";
import { Engine } from "../../engine/engine.js";
import { bookingKey } from "../../engine/keys.js";
import { createPool } from "../../sql/db.js";
import { bookingsInPostgres } from "../../testkit/verify.js";
import {
  Client,
  engineEnv,
  inParallel,
  scenarioDatabase,
  sleep,
  startPostgres,
  startRedis,
  startRole,
  verifyScenario,
  type Proc,
} from "./support.js";

// Redis and PostgreSQL fail under the engine: Redis restarts from its AOF, PostgreSQL is gone
// for 30 s, the relay holding an event dies. Each ends with the invariant checks.

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function track(proc: Proc): Proc {
  cleanups.push(() => proc.kill("SIGKILL"));
  return proc;
}

describe("storage faults", () => {
  it("Redis killed and restarted with appendfsync always: no paid booking lost, no ticket sold twice", async () => {
    const redis = await startRedis("always");
    cleanups.push(() => redis.stop());
    const databaseUrl = await scenarioDatabase("onsale_faults_aof");
    const port = await freePort();
    const engine = track(await startRole("start", ["start"], engineEnv(redis.url, databaseUrl, port)));
    const client = new Client(`http://127.0.0.1:${port}`);
    const eventId = await client.createEvent(200);
    const held = await inParallel(150, 10, (index) => client.book(eventId, `aof-${index}`));
    const paid = held.slice(0, 100);
    for (const answer of paid) expect((await client.pay(eventId, answer.body)).status).toBe(200);

    redis.proc.kill("SIGKILL");
    await redis.proc.exited;
    await redis.restart();

    // Every paid booking came back with Redis; selling goes on without overselling.
    const check = new Redis(redis.url);
    const states = await Promise.all(paid.map((answer) => check.hget(bookingKey(eventId, answer.body.id), "state")));
    check.disconnect();
    expect(states.every((state) => state === "paid")).toBe(true);
    const more = await inParallel(120, 10, (index) => client.book(eventId, `after-aof-${index}`));
    expect(more.filter((answer) => answer.status === 201)).toHaveLength(50);
    const invariants = await verifyScenario(redis.url, databaseUrl, eventId);
    expect(invariants).toMatchObject({ ok: true, oversold: 0, fcfsViolations: 0, missingRows: 0, duplicateRows: 0 });
    expect(invariants.redis).toMatchObject({ paid: 100, held: 100, instock: 0 });
    engine.kill("SIGTERM");
  });

  it("Redis process killed with appendfsync everysec: no acknowledged hold is lost, and what it kept is consistent", async () => {
    const redis = await startRedis("everysec");
    cleanups.push(() => redis.stop());
    const databaseUrl = await scenarioDatabase("onsale_faults_everysec");
    const port = await freePort();
    const engine = track(await startRole("serve", ["serve"], engineEnv(redis.url, databaseUrl, port)));
    const client = new Client(`http://127.0.0.1:${port}`);
    const eventId = await client.createEvent(1_000_000);
    const acknowledged: { id: string }[] = [];
    let stop = false;
    const load = inParallel(16, 16, async (lane) => {
      for (let i = 0; !stop; i++) {
        const answer = await client.book(eventId, `everysec-${lane}-${i}`, 1).catch(() => null);
        if (answer?.status === 201) acknowledged.push({ id: answer.body.id });
      }
    });
    await sleep(3_000);
    redis.proc.kill("SIGKILL");
    stop = true;
    await load;
    await redis.proc.exited;
    await redis.restart();
    const check = new Redis(redis.url);
    const present = await Promise.all(acknowledged.map((b) => check.exists(bookingKey(eventId, b.id))));
    check.disconnect();
    const lost = acknowledged.filter((_, i) => present[i] === 0);
    console.log(`appendfsync everysec: ${acknowledged.length} holds acknowledged, ${lost.length} lost at the kill`);
    // Redis writes the AOF (to the page cache) before it replies, so a killed process loses
    // nothing it acknowledged. What a host crash loses is not simulated here.
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    // The AOF is a prefix of the commands: the event Redis kept is consistent on its own.
    const recount = new Redis(redis.url);
    const tally = await checkInvariant(new Engine(recount, loadConfig({ REDIS_URL: redis.url })), eventId);
    recount.disconnect();
    expect(tally.held).toBe(acknowledged.length - lost.length);
    engine.kill("SIGTERM");
  });

  it("PostgreSQL stopped for 30 s: holds keep working, the relay catches up, no row lost", async () => {
    const postgres = await startPostgres();
    cleanups.push(() => postgres.destroy());
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const port = await freePort();
    const engine = track(await startRole("start", ["start"], engineEnv(redis.url, postgres.url, port)));
    const client = new Client(`http://127.0.0.1:${port}`);
    const eventId = await client.createEvent(500);
    await inParallel(100, 10, (index) => client.book(eventId, `before-${index}`));

    postgres.stop();
    const during: number[] = [];
    const outageEndsAtMs = Date.now() + 30_000;
    for (let round = 0; Date.now() < outageEndsAtMs; round++) {
      const answers = await inParallel(20, 10, (index) => client.book(eventId, `during-${round}-${index}`, 1)).catch(
        (error: Error) => {
          throw new Error(`${error.message}; the engine said:\n${engine.lines.slice(-15).join("\n")}`);
        },
      );
      during.push(...answers.map((answer) => answer.status));
      await sleep(1_000);
    }
    expect(during.length).toBeGreaterThan(100);
    expect(during.every((status) => status === 201 || status === 202 || status === 409)).toBe(true);
    postgres.start();

    const invariants = await verifyScenario(redis.url, postgres.url, eventId);
    expect(invariants).toMatchObject({ ok: true, oversold: 0, fcfsViolations: 0, missingRows: 0, duplicateRows: 0 });
    const pool = createPool(postgres.url, 1);
    const bookings = await bookingsInPostgres(pool, eventId);
    await pool.end();
    expect(bookings).toBe(100 + during.filter((status) => status !== 409).length);
    engine.kill("SIGTERM");
  });

  it("the relay holding an event is killed: a standby takes the log over within seconds", async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const databaseUrl = await scenarioDatabase("onsale_faults_relay");
    const port = await freePort();
    track(await startRole("serve", ["serve"], engineEnv(redis.url, databaseUrl, port)));
    const first = track(await startRole("work-1", ["work"], engineEnv(redis.url, databaseUrl, port + 2)));
    const standby = track(await startRole("work-2", ["work"], engineEnv(redis.url, databaseUrl, port + 4)));
    const client = new Client(`http://127.0.0.1:${port}`);
    const eventId = await client.createEvent(5_000);
    await inParallel(500, 10, (index) => client.book(eventId, `relay-a-${index}`));
    first.kill("SIGKILL");
    await first.exited;
    const killedAtMs = Date.now();
    await inParallel(500, 10, (index) => client.book(eventId, `relay-b-${index}`));
    const invariants = await verifyScenario(redis.url, databaseUrl, eventId);
    const takeoverMs = Date.now() - killedAtMs;
    console.log(
      `relay failover: the standby had every entry in PostgreSQL ${takeoverMs} ms after the active relay died (bookings kept arriving meanwhile)`,
    );
    expect(invariants).toMatchObject({ ok: true, oversold: 0, fcfsViolations: 0, missingRows: 0, duplicateRows: 0 });
    expect(takeoverMs).toBeLessThan(30_000);
    const pool = createPool(databaseUrl, 1);
    const bookings = await bookingsInPostgres(pool, eventId);
    await pool.end();
    expect(bookings).toBe(1000);
    standby.kill("SIGTERM");
  });
});
