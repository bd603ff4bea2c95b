import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningEngine } from "../bin/app.js";
import { AUTHS } from "../http/auth.js";
import { type Api, ADMIN_TOKEN, startTestEngineWithEvent } from "./helpers.js";

// Every route declares who may call it, and the server checks it before the handler runs.

let running: RunningEngine;
let client: Api;
let eventId: string;

beforeAll(async () => {
  ({ running, client, eventId } = await startTestEngineWithEvent({ capacity: 5 }));
});
afterAll(() => running.stop());

const UPPER = { get: "GET", post: "POST", patch: "PATCH", del: "DELETE" } as const;

/** A concrete path for a pattern: every parameter is the test event's id. */
function pathOf(pattern: string): string {
  return pattern.replace(/:[a-z]+/g, eventId);
}

describe("route authorization", () => {
  it("is declared on every route the server registers", () => {
    const routes = running.http!.routes;
    expect(routes.length).toBeGreaterThan(10);
    const undeclared = routes.filter((spec) => !AUTHS.includes(spec.auth)).map((spec) => spec.name);
    expect(undeclared).toEqual([]);
    // Whatever lives under /admin is for the operator only.
    const adminOpen = routes
      .filter((spec) => spec.pattern.startsWith("/admin") && spec.auth !== "admin")
      .map((spec) => spec.name);
    expect(adminOpen).toEqual([]);
  });

  it("refuses every admin route without the admin token, or with a wrong one, before it acts", async () => {
    const admin = running.http!.routes.filter((spec) => spec.auth === "admin");
    expect(admin.length).toBeGreaterThanOrEqual(6);
    for (const spec of admin) {
      for (const headers of [
        {} as Record<string, string>,
        { Authorization: `Bearer ${ADMIN_TOKEN}x` },
        { Authorization: ADMIN_TOKEN },
      ]) {
        const answer = await client.request(UPPER[spec.method], pathOf(spec.pattern), {
          headers,
          body: spec.bodyLimit === undefined ? undefined : { capacity: 1 },
        });
        expect([401, 403], `${spec.name} ${JSON.stringify(headers)}`).toContain(answer.status);
        expect(answer.contentType).toBe("application/problem+json");
      }
    }
    // Nothing changed: the capacity PATCH was refused.
    expect((await client.request("GET", `/events/${eventId}`)).body.capacity).toBe(5);
  });

  it("lets a booking route through only with that booking's token", async () => {
    const booking = (await client.book(eventId, "route-auth-user", 1)).body;
    const other = (await client.book(eventId, "route-auth-other", 1)).body;
    const as = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });
    expect((await client.request("GET", `/bookings/${booking.id}`, as(booking.token))).status).toBe(200);
    for (const init of [{}, as(other.token), as("nonsense")]) {
      const answer = await client.request("GET", `/bookings/${booking.id}`, init);
      expect(answer.status).toBe(404);
      expect(answer.contentType).toBe("application/problem+json");
      expect((await client.request("DELETE", `/bookings/${booking.id}`, init)).status).toBe(404);
    }
    const page = await client.request("GET", `/pay/${booking.id}/return?token=${encodeURIComponent(other.token)}`);
    expect(page.status).toBe(404);
    expect(page.contentType).toContain("text/html");
    expect((await client.request("DELETE", `/bookings/${booking.id}`, as(booking.token))).body.status).toBe(
      "cancelled",
    );
  });
});
