import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningEngine } from "../bin/app.js";
import { logKey } from "../engine/keys.js";
import { countEvents } from "../sql/events.js";
import { type Api, startTestEngineWithEvent } from "./helpers.js";

// Bad input answers 4xx application/problem+json with a clear message and changes nothing.

let running: RunningEngine;
let client: Api;
let eventId: string;

beforeAll(async () => {
  ({ running, client, eventId } = await startTestEngineWithEvent({ capacity: 10 }));
});
afterAll(() => running.stop());

async function snapshot() {
  const redis = running.engine.redis;
  return {
    log: await redis.xlen(logKey(eventId)),
    instock: (await client.request("GET", `/events/${eventId}`)).body.instock,
    events: await countEvents(running.pool),
  };
}

const BOOKING_CASES: [string, { body?: unknown; raw?: string; headers?: Record<string, string> }, number, RegExp][] = [
  ["missing fields", { body: {} }, 422, /invalid-parameters$/],
  ["userId of the wrong type", { body: { userId: 42, eventId: "x", quantity: 1 } }, 422, /invalid-parameters$/],
  ["quantity 0", { body: { userId: "u", eventId: "E", quantity: 0 } }, 422, /invalid-parameters$/],
  ["quantity 10^9", { body: { userId: "u", eventId: "E", quantity: 1e9 } }, 422, /invalid-parameters$/],
  ["quantity 1.5", { body: { userId: "u", eventId: "E", quantity: 1.5 } }, 422, /invalid-parameters$/],
  ["quantity as a string", { body: { userId: "u", eventId: "E", quantity: "1" } }, 422, /invalid-parameters$/],
  ["an unknown field", { body: { userId: "u", eventId: "E", quantity: 1, seat: "A1" } }, 422, /invalid-parameters$/],
  ["a userId with spaces", { body: { userId: "a b", eventId: "E", quantity: 1 } }, 422, /invalid-parameters$/],
  [
    "a malformed email",
    { body: { userId: "u", eventId: "E", quantity: 1, email: "nope" } },
    422,
    /invalid-parameters$/,
  ],
  ["invalid JSON", { raw: "{not json", headers: { "Content-Type": "application/json" } }, 400, /invalid-json$/],
  ["a JSON array", { raw: "[1,2]", headers: { "Content-Type": "application/json" } }, 400, /invalid-json$/],
  ["an empty body", { raw: "", headers: { "Content-Type": "application/json" } }, 400, /invalid-json$/],
  [
    "a body over the limit",
    { raw: JSON.stringify({ userId: "u", pad: "x".repeat(20_000) }), headers: { "Content-Type": "application/json" } },
    413,
    /body-too-large$/,
  ],
  [
    "a form body",
    { raw: "userId=u", headers: { "Content-Type": "application/x-www-form-urlencoded" } },
    415,
    /unsupported-media-type$/,
  ],
  [
    "an over-long Idempotency-Key",
    { body: { userId: "u", eventId: "E", quantity: 1 }, headers: { "Idempotency-Key": "k".repeat(300) } },
    422,
    /invalid-parameters$/,
  ],
];

describe("POST /bookings with bad input", () => {
  for (const [name, init, status, type] of BOOKING_CASES) {
    it(`answers ${status} to ${name} and changes nothing`, async () => {
      const before = await snapshot();
      const withEvent = init.body
        ? { ...init, body: JSON.parse(JSON.stringify(init.body).replace(/"E"/g, JSON.stringify(eventId))) }
        : init;
      const answer = await client.request("POST", "/bookings", withEvent);
      expect(answer.status).toBe(status);
      expect(answer.contentType).toBe("application/problem+json");
      expect(answer.body.type).toMatch(type);
      expect(answer.body.status).toBe(status);
      expect(answer.body.detail.length).toBeGreaterThan(5);
      expect(await snapshot()).toEqual(before);
    });
  }

  it("answers 404 for an unknown event", async () => {
    const answer = await client.book("01900000-0000-7000-8000-000000000000", "u", 1);
    expect(answer.status).toBe(404);
    expect(answer.body.type).toMatch(/event-not-found$/);
  });

  it("still serves the next good request on the same server", async () => {
    expect((await client.book(eventId, "after-the-storm")).status).toBe(201);
  });
});

describe("other routes with bad input", () => {
  it("requires the admin token for admin routes", async () => {
    const before = await snapshot();
    const answer = await client.request("POST", "/admin/events", { body: { name: "x" } });
    expect(answer.status).toBe(401);
    expect(answer.contentType).toBe("application/problem+json");
    const wrong = await client.request("POST", "/admin/events", {
      body: {},
      headers: { Authorization: "Bearer nope" },
    });
    expect(wrong.status).toBe(401);
    expect(await snapshot()).toEqual(before);
  });

  it("lists every invalid event field at once", async () => {
    const answer = await client.createEvent({
      capacity: -1,
      timeZone: "Mars/Olympus",
      startsAt: "tomorrow",
      currency: "euro",
    });
    expect(answer.status).toBe(422);
    expect(answer.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      "capacity",
      "currency",
      "startsAt",
      "timeZone",
    ]);
  });

  it("answers 404 problem+json for malformed ids and unknown routes", async () => {
    expect((await client.get("not-a-uuid", "x")).status).toBe(404);
    expect((await client.request("GET", "/events/not-a-uuid")).status).toBe(404);
    const unknown = await client.request("GET", "/nowhere");
    expect(unknown.status).toBe(404);
    expect(unknown.contentType).toBe("application/problem+json");
  });
});
