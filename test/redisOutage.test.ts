import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { RunningEngine } from "../bin/app.js";
import { ADMIN_TOKEN, api, startTestEngine, waitFor, type Api } from "./helpers.js";
import { startRedis, type RedisServer } from "./faults/support.js";

// Redis goes away under a running engine, on a redis-server of this test's own: every route
// that needs it answers 503 problem+json with Retry-After within REDIS_COMMAND_TIMEOUT_MS (not a
// 500 after seconds), ioredis's complaints go through the JSON log, and the engine recovers by
// itself when Redis is back. Back empty, a booking is told the inventory is not loaded (503),
// not that the event does not exist.

const COMMAND_TIMEOUT_MS = 500;
/** The answer's bound: the command timeout, and slack for a loaded machine. */
const ANSWER_WITHIN_MS = COMMAND_TIMEOUT_MS + 1500;

let redis: RedisServer;
let running: RunningEngine;
let client: Api;
const logged: { level: number; msg: string; name?: string }[] = [];
const consoleError = vi.spyOn(console, "error");

beforeAll(async () => {
  redis = await startRedis();
  const log = pino({ level: "warn" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  running = await startTestEngine(
    { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS) },
    {},
    log,
  );
  client = api(running);
});
afterAll(async () => {
  await running?.stop();
  await redis?.stop();
  consoleError.mockRestore();
});

async function timed<T>(call: () => Promise<T>): Promise<{ answer: T; ms: number }> {
  const started = Date.now();
  const answer = await call();
  return { answer, ms: Date.now() - started };
}

describe("Redis outage", () => {
  it("answers 503 with Retry-After in bounded time while Redis is down, and recovers by itself", async () => {
    const eventId = await client.eventId({ capacity: 10 });
    const held = await client.book(eventId, "outage-before");
    expect(held.status).toBe(201);

    // Hung, not gone: nothing refuses the connection, the command timeout bounds the answer.
    redis.proc.kill("SIGSTOP");
    try {
      const { answer, ms } = await timed(() => client.book(eventId, "outage-hung"));
      expect(answer.status).toBe(503);
      expect(answer.body.type).toBe("/problems/unavailable");
      expect(ms).toBeLessThan(ANSWER_WITHIN_MS);
    } finally {
      redis.proc.kill("SIGCONT");
    }

    redis.proc.kill("SIGKILL");
    await redis.proc.exited;

    for (const call of [
      () => client.book(eventId, "outage-during"),
      () => client.get(held.body.id, held.body.token),
      () => client.cancel(held.body.id, held.body.token),
      () => client.request("GET", `/events/${eventId}`),
    ]) {
      const { answer, ms } = await timed(call);
      expect(answer.status).toBe(503);
      expect(answer.contentType).toContain("application/problem+json");
      expect(answer.body.type).toBe("/problems/unavailable");
      expect(Number(answer.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(ms).toBeLessThan(ANSWER_WITHIN_MS);
    }
    // Said once through the JSON log; never ioredis's own stack trace on stderr.
    expect(logged.some((line) => /redis/i.test(line.msg))).toBe(true);
    expect(consoleError.mock.calls.filter((args) => String(args[0]).includes("ioredis"))).toEqual([]);

    // Back, but empty (no persistence): the event exists, its inventory is not loaded.
    await redis.restart();
    const empty = await waitFor(
      () => client.book(eventId, "outage-after"),
      (answer) => answer.body.type !== "/problems/unavailable",
      10_000,
    );
    expect(empty.status).toBe(503);
    expect(empty.body.type).toBe("/problems/inventory-not-loaded");
    expect(Number(empty.headers.get("retry-after"))).toBeGreaterThan(0);
    // An event PostgreSQL does not have is still a 404.
    expect((await client.book("01a20000-0000-7000-8000-000000000000", "outage-after")).status).toBe(404);

    // The operator reloads it; booking goes on, without restarting the engine.
    const warm = await client.request("POST", `/admin/events/${eventId}/cache`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(warm.status).toBe(200);
    expect((await client.book(eventId, "outage-after")).status).toBe(201);
  });
});
