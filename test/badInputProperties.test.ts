import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningEngine } from "../bin/app.js";
import { bookingKey, eventKey, holdsKey, lineKey, logKey } from "../engine/keys.js";
import { scanKeys } from "../engine/redis.js";
import { BOOKING } from "../engine/schema.js";
import { ADMIN_TOKEN, type Api, api, startTestEngine, WEBHOOK_SECRET } from "./helpers.js";
import Stripe from "stripe";

// Random bad input on every route: malformed JSON, wrong types, huge and deeply nested
// bodies, unicode, negative and overflowing numbers, missing and forged tokens, bad webhook
// signatures. Always a 4xx application/problem+json, never a 5xx, never a state change,
// and the process keeps answering.

let running: RunningEngine;
let client: Api;
let eventId: string;
let booking: { id: string; token: string };

beforeAll(async () => {
  running = await startTestEngine();
  client = api(running);
  eventId = await client.eventId({ capacity: 5 });
  booking = (await client.book(eventId, "the-only-booker", 2)).body;
});
afterAll(() => running.stop());

/** The userId contract of POST /bookings (its 422 hint: letters, digits and . _ @ + | -, at most 128). */
const VALID_USER_ID = /^[A-Za-z0-9._@+|-]{1,128}$/;

/** Every userId in the event's bookings as Redis has them. */
async function redisUserIds(): Promise<string[]> {
  const keys = await scanKeys(running.engine.redis, `${bookingKey(eventId, "").replace(/[{}]/g, "\\$&")}*`);
  return Promise.all(keys.map(async (key) => (await running.engine.redis.hget(key, BOOKING.user)) ?? ""));
}

/** Everything bad input must leave as it was. */
async function state() {
  const redis = running.engine.redis;
  const { rows } = await running.pool.query(
    "SELECT (SELECT count(*) FROM events)::int AS events, (SELECT count(*) FROM payments WHERE event_id = $1)::int AS payments, (SELECT version FROM events WHERE id = $1) AS version",
    [eventId],
  );
  return {
    event: await redis.hgetall(eventKey(eventId)),
    log: await redis.xlen(logKey(eventId)),
    holds: await redis.zcard(holdsKey(eventId)),
    line: await redis.zcard(lineKey(eventId)),
    postgres: rows[0],
  };
}

const signer = new Stripe("sk_test_props");

// Values of every JSON type, including the awkward ones.
const nasty = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme", maxLength: 300 }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "😀".repeat(50),
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "NaN",
    "1e309",
  ),
  fc.integer(),
  fc.constantFrom(-1, 0, -0, 1.5, 2 ** 53, -(2 ** 63), 1e308, Number.MAX_SAFE_INTEGER + 2),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
);

/** A body that is wrong in some way: bad fields, bad JSON, deep nesting, or too big. */
const badBody = fc.oneof(
  fc
    .record(
      { userId: nasty, eventId: fc.oneof(nasty, fc.constant("EVENT")), quantity: nasty, email: nasty },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o).replace('"EVENT"', JSON.stringify(eventId))),
  fc
    .record({ userId: fc.constant("ok-user"), eventId: fc.constant("EVENT"), quantity: nasty })
    .map((o) => JSON.stringify(o).replace('"EVENT"', JSON.stringify(eventId))),
  fc.string().map((s) => `{${s}`),
  fc.constantFrom("", "null", "[]", "1", '"x"', "{", "{}}", '{"a":}', "\ufeff{}", '{"__proto__":{"admin":true}}'),
  fc.integer({ min: 1, max: 5000 }).map((depth) => "[".repeat(depth) + "]".repeat(depth)),
  fc.integer({ min: 1, max: 3000 }).map((depth) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`),
  fc.constant(JSON.stringify({ userId: "big", eventId: "x", quantity: 1, pad: "x".repeat(70_000) })),
);

const token = fc.oneof(
  fc.constant(""),
  fc.string(),
  fc.constant("Bearer "),
  fc.string().map((s) => `Bearer ${s}`),
  fc.constant(`Bearer ${"a".repeat(5000)}`),
);

/** A control character (C0, DEL, C1) or half of a surrogate pair, alone. */
const unsafeChar = fc
  .oneof(
    fc.integer({ min: 0, max: 0x1f }),
    fc.integer({ min: 0x7f, max: 0x9f }),
    fc.integer({ min: 0xd800, max: 0xdfff }),
  )
  .map((code) => String.fromCharCode(code));

/** A valid value with an unsafe character somewhere in it. */
const spoiled = (valid: string) =>
  fc.tuple(fc.nat({ max: valid.length }), unsafeChar).map(([at, bad]) => valid.slice(0, at) + bad + valid.slice(at));

function expectProblem(answer: { status: number; contentType: string }, context: string) {
  expect(answer.status, context).toBeGreaterThanOrEqual(400);
  expect(answer.status, context).toBeLessThan(500);
  expect(answer.contentType, context).toContain("application/problem+json");
}

describe("bad input on every route, at random", () => {
  it("POST /bookings, POST and PATCH /admin/events: 4xx problem+json, nothing changes", async () => {
    const before = await state();
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        badBody,
        fc.constantFrom("bookings", "create", "patch", "patch-unauthorized"),
        async (raw, target) => {
          const headers = {
            "Content-Type": "application/json",
            Authorization: target === "patch-unauthorized" ? "Bearer wrong" : `Bearer ${ADMIN_TOKEN}`,
          };
          const path =
            target === "bookings" ? "/bookings" : target === "create" ? "/admin/events" : `/admin/events/${eventId}`;
          const answer = await client.request(target.startsWith("patch") ? "PATCH" : "POST", path, { raw, headers });
          // A random body may by chance be a valid booking for a new person; nothing else may pass.
          if (target === "bookings" && answer.status < 300) {
            const sent = JSON.parse(raw) as { userId: unknown; quantity: unknown };
            expect(sent.userId, raw.slice(0, 200)).toMatch(VALID_USER_ID);
            expect((await client.get(answer.body.id, answer.body.token)).body).toMatchObject({
              userId: sent.userId,
              quantity: sent.quantity,
            });
            accepted += 1;
            return;
          }
          expectProblem(answer, `${target} ${raw.slice(0, 200)}`);
        },
      ),
      { numRuns: 150 },
    );
    const after = await state();
    expect(after.postgres).toEqual(before.postgres);
    // Redis too: only the bookings accepted above were added, each by a valid person.
    expect(after.log).toBe(before.log + accepted);
    expect(after.holds + after.line).toBe(before.holds + before.line + accepted);
    for (const user of await redisUserIds()) expect(user).toMatch(VALID_USER_ID);
  });

  it("POST /bookings with a userId outside letters, digits and . _ @ + | -: 422, and no booking in Redis", async () => {
    const outside = fc.constantFrom(
      " ",
      "/",
      "<",
      ">",
      ":",
      "{",
      "}",
      '"',
      "'",
      "\\",
      "*",
      "#",
      "%",
      "&",
      "=",
      "?",
      ",",
      ";",
      "~",
      "!",
      "$",
      "(",
      ")",
      "[",
      "]",
      "^",
      "`",
      "é",
      "😀",
      "\u00a0",
    );
    const badUserId = fc.oneof(
      fc
        .tuple(fc.stringMatching(/^[a-z0-9]{0,20}$/), outside, fc.stringMatching(/^[a-z0-9]{0,20}$/))
        .map(([a, bad, b]) => a + bad + b),
      fc.constant(""),
      fc.constant("x".repeat(129)),
    );
    const before = await state();
    await fc.assert(
      fc.asyncProperty(badUserId, async (userId) => {
        const answer = await client.request("POST", "/bookings", { body: { eventId, userId, quantity: 1 } });
        expect(answer.status, JSON.stringify(userId)).toBe(422);
        expectProblem(answer, JSON.stringify(userId));
      }),
      { numRuns: 60 },
    );
    expect(await state()).toEqual(before);
    for (const user of await redisUserIds()) expect(user).toMatch(VALID_USER_ID);
  });

  it("reading, cancelling and paying a booking with forged ids and tokens: 404/4xx, nothing changes", async () => {
    const before = await state();
    const id = fc.oneof(fc.constant(booking.id), fc.uuid(), fc.string({ maxLength: 80 }).map(encodeURIComponent));
    await fc.assert(
      fc.asyncProperty(id, token, fc.constantFrom("GET", "DELETE"), async (bookingId, authorization, method) => {
        if (bookingId === booking.id && authorization === `Bearer ${booking.token}`) return;
        const answer = await client.request(method, `/bookings/${bookingId}`, {
          headers: { Authorization: authorization },
        });
        expectProblem(answer, `${method} ${bookingId} ${authorization.slice(0, 40)}`);
      }),
      { numRuns: 150 },
    );
    expect(await state()).toEqual(before);
    expect((await client.get(booking.id, booking.token)).body.status).toBe("held");
  });

  it("webhooks with bad, missing, stale or foreign signatures: 400 problem+json, no payment recorded", async () => {
    const before = await state();
    const payload = fc.oneof(
      badBody,
      fc.constant(
        JSON.stringify({
          id: "evt_x",
          type: "checkout.session.completed",
          data: { object: { metadata: { bookingId: booking.id, eventId } } },
        }),
      ),
    );
    const signature = fc.oneof(
      fc.constant(""),
      fc.string(),
      fc.constant("t=1,v1=deadbeef"),
      fc.constant((p: string) =>
        signer.webhooks.generateTestHeaderString({ payload: p, secret: "whsec_someone_else" }),
      ),
      fc.constant((p: string) =>
        signer.webhooks.generateTestHeaderString({
          payload: p,
          secret: WEBHOOK_SECRET,
          timestamp: Math.floor(Date.now() / 1000) - 3600,
        }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(payload, signature, async (raw, sign) => {
        const header = typeof sign === "function" ? sign(raw) : sign;
        const answer = await client.request("POST", "/webhooks/stripe", {
          raw,
          headers: { "Content-Type": "application/json", "Stripe-Signature": header },
        });
        expectProblem(answer, `signature ${header.slice(0, 40)}`);
      }),
      { numRuns: 100 },
    );
    expect(await state()).toEqual(before);
  });

  it("a control character or lone surrogate in any string field: 422 (400 in a query), nothing changes", async () => {
    const before = await state();
    const field = fc.constantFrom(
      "userId",
      "email",
      "name",
      "venue",
      "timeZone",
      "currency",
      "patch-name",
      "patch-venue",
      "search",
    );
    await fc.assert(
      fc.asyncProperty(
        field,
        fc.string({ minLength: 1, maxLength: 3 }).chain((word) => spoiled(`ok${word.replace(/[^a-z]/gi, "")}x`)),
        async (target, bad) => {
          const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
          let answer: Awaited<ReturnType<typeof client.request>>;
          if (target === "search")
            answer = await client.request(
              "GET",
              `/events?search=${encodeURIComponent(bad.replace(/[\ud800-\udfff]/g, "\u0000"))}`,
            );
          else if (target === "userId" || target === "email") {
            const body = {
              eventId,
              userId: target === "userId" ? bad : "props-user",
              quantity: 1,
              email: target === "email" ? `${bad}@example.com` : undefined,
            };
            answer = await client.request("POST", "/bookings", { body });
          } else if (target.startsWith("patch-")) {
            answer = await client.request("PATCH", `/admin/events/${eventId}`, {
              headers: admin,
              body: { [target.slice(6)]: bad },
            });
          } else answer = await client.createEvent({ [target]: bad });
          expectProblem(answer, `${target} ${JSON.stringify(bad)}`);
          expect(answer.status, `${target} ${JSON.stringify(bad)}`).toBe(target === "search" ? 400 : 422);
        },
      ),
      { numRuns: 150 },
    );
    expect(await state()).toEqual(before);
  });

  it("a non-ASCII byte inside an Idempotency-Key: 422", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0x80, max: 0xff }),
        fc.stringMatching(/^[a-z0-9]{1,20}$/),
        async (code, word) => {
          const key = `${word}${String.fromCharCode(code)}${word}`;
          const answer = await client.request("POST", "/bookings", {
            body: { eventId, userId: "props-key", quantity: 1 },
            headers: { "Idempotency-Key": key },
          });
          expect(answer.status, JSON.stringify(key)).toBe(422);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("query strings and path parameters: search, event, challenge, admin routes", async () => {
    const before = await state();
    const segment = fc
      .oneof(fc.string({ maxLength: 60 }), fc.constantFrom("%", "%zz", "..", "%00", "😀"))
      .map((s) => s.replace(/[/?#]/g, "_"));
    await fc.assert(
      fc.asyncProperty(
        segment,
        segment,
        fc.constantFrom("search", "event", "challenge", "admin-cache", "reconcile"),
        async (a, b, target) => {
          const paths = {
            search: `/events?search=${a}&start_date=${b}&limit=${b}&cursor=${a}`,
            event: `/events/${a}`,
            challenge: `/events/${a}/challenge`,
            "admin-cache": `/admin/events/${a}/cache`,
            reconcile: `/admin/reconcile?repair=${a}`,
          } as const;
          const method = target === "admin-cache" || target === "reconcile" ? "POST" : "GET";
          const answer = await client.request(method, paths[target], {
            headers: { Authorization: `Bearer ${encodeURIComponent(b)}` },
          });
          // A random search may match nothing and answer 200 with no data; everything else is a problem.
          if (target === "search" && answer.status === 200) return;
          expectProblem(answer, `${method} ${paths[target]}`);
        },
      ),
      { numRuns: 150 },
    );
    expect(await state()).toEqual(before);
    expect((await client.request("GET", "/healthz")).status).toBe(200);
  });
});
