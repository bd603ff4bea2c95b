import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningEngine } from "../bin/app.js";
import { logKey } from "../engine/keys.js";
import { ADMIN_TOKEN, type Api, startTestEngineWithEvent } from "./helpers.js";

// Strings a client writes reach PostgreSQL, mails and calendars: control characters and
// unpaired surrogates are refused in every string field, before anything is stored.

let running: RunningEngine;
let client: Api;
let eventId: string;

beforeAll(async () => {
  ({ running, client, eventId } = await startTestEngineWithEvent({ capacity: 10 }));
});
afterAll(() => running.stop());

const HOSTILE = [
  "a\u0000b",
  "a\u0007b",
  "line\r\nbreak",
  "tab\there",
  "a\u007fb",
  "a\u0085b",
  "lone\ud800",
  "lone\udc00x",
];
const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };

function expectRefused(
  answer: { status: number; contentType: string; body: any },
  status: number,
  field: string,
): void {
  expect(answer.status).toBe(status);
  expect(answer.contentType).toBe("application/problem+json");
  expect(JSON.stringify(answer.body.errors ?? answer.body.detail)).toContain(field);
}

describe("hostile strings", () => {
  it("refuses them in a booking's email and userId, storing nothing", async () => {
    const before = await running.engine.redis.xlen(logKey(eventId));
    for (const bad of HOSTILE) {
      const email = await client.request("POST", "/bookings", {
        body: { eventId, userId: "u1", quantity: 1, email: `${bad}@example.com` },
      });
      expectRefused(email, 422, "email");
      const userId = await client.request("POST", "/bookings", { body: { eventId, userId: bad, quantity: 1 } });
      expectRefused(userId, 422, "userId");
    }
    expect(await running.engine.redis.xlen(logKey(eventId))).toBe(before);
  });

  it("refuses them in event names and venues, created or changed", async () => {
    for (const bad of HOSTILE) {
      expectRefused(await client.createEvent({ name: `Tour ${bad}` }), 422, "name");
      expectRefused(await client.createEvent({ venue: bad }), 422, "venue");
      expectRefused(
        await client.request("PATCH", `/admin/events/${eventId}`, { headers: admin, body: { name: bad } }),
        422,
        "name",
      );
    }
    expect((await client.request("GET", `/events/${eventId}`)).body.name).toBe("Test Tour");
  });

  it("answers a search text holding a NUL or another control character with 400, not 500", async () => {
    for (const bad of ["a%00b", "rock%01", "x%7F", "%C2%85y"]) {
      const answer = await client.request("GET", `/events?search=${bad}`);
      expectRefused(answer, 400, "search");
    }
  });

  // uWebSockets.js drops bytes >= 0x80 at either end of a header value before the engine sees
  // it ("\u00e9key" arrives as "key"), and closes the connection on a control character.
  it("refuses an Idempotency-Key with a non-ASCII character", async () => {
    for (const key of ["key\u00e9x", "k\u00ffey", "k\u00c3\u00a9y"]) {
      const answer = await rawBooking(key);
      expect(answer.status, key).toBe(422);
      expect(answer.body).toContain("Idempotency-Key");
    }
  });
});

/** POST /bookings over a plain socket, so the header's bytes go out as written (latin1). */
function rawBooking(idempotencyKey: string): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({ eventId, userId: "raw-user", quantity: 1 });
  const request = `POST /bookings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nIdempotency-Key: ${idempotencyKey}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
  return new Promise((resolve, reject) => {
    const socket = connect(running.http!.port, "127.0.0.1", () => socket.end(Buffer.from(request, "latin1")));
    const chunks: Buffer[] = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      resolve({ status: Number(text.slice(9, 12)), body: text.slice(text.indexOf("\r\n\r\n") + 4) });
    });
  });
}
