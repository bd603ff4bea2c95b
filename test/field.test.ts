import { Agent } from "undici";
import { describe, expect, it } from "vitest";
import { bookingCountsByStatus } from "../sql/bookings.js";
import { checkInvariant, completedEvent, sleep, useTestEngine, waitFor, type Answer } from "./helpers.js";

// Failures the field's users reported (shared/FIELD.md) that no other file covers, each
// replayed over HTTP against the real engine. The others are tested where their feature is:
// pretix #74 and #827, alf.io #1254 and abandoned checkouts (pretix #2629) in
// payments.test.ts; Hi.Events #466 in flows.test.ts; the waiting room (Hi.Events #178) in
// live.test.ts; the skipped-lock oversell race and the emfcamp peak in concurrency.test.ts.

// Short enough to watch a hold end; long enough for a webhook sent at once to land within it on a busy machine.
const HOLD_SECONDS = 4;
const ctx = useTestEngine({ HOLD_SECONDS: String(HOLD_SECONDS) }, { work: true });

describe("what went wrong for the field's users", () => {
  it("a hold cannot be extended: booking again, replaying or reading it leaves its deadline where it was (pretix #1575)", async () => {
    const eventId = await ctx.client.eventId({ capacity: 5 });
    const first = await ctx.client.book(eventId, "plus-clicker", 1, { "Idempotency-Key": "cart-1" });
    expect(first.status).toBe(201);
    const deadline = first.body.expiresAt as string;
    for (let click = 0; click < 5; click++) {
      await sleep(150);
      // The "+" button: a second booking for more tickets is refused, not merged into a fresh hold.
      const more = await ctx.client.book(eventId, "plus-clicker", 2);
      expect(more).toMatchObject({ status: 409, body: { type: "/problems/open-booking-exists" } });
      const replay = await ctx.client.book(eventId, "plus-clicker", 1, { "Idempotency-Key": "cart-1" });
      expect(replay.body).toMatchObject({ id: first.body.id, expiresAt: deadline });
      expect((await ctx.client.get(first.body.id, first.body.token)).body.expiresAt).toBe(deadline);
    }
    // It ends at the first deadline, whatever was clicked meanwhile.
    await waitFor(
      async () => (await ctx.client.get(first.body.id, first.body.token)).body.status,
      (status) => status === "expired",
      10_000,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(deadline));
    // And the sweep gives its ticket back.
    await waitFor(
      () => checkInvariant(ctx.running.engine, eventId),
      (tally) => tally.instock === 5 && tally.held === 0,
      10_000,
    );
  });

  it("each event holds for its own length (pretix 30 min, alf.io 25, Hi.Events 15), for new holds and holds served from the line", async () => {
    const admin = { Authorization: "Bearer test-admin-token" };
    const own = await ctx.client.createEvent({ capacity: 1, holdSeconds: 2 });
    expect(own.body).toMatchObject({ holdSeconds: 2 });
    const eventId = own.body.id as string;
    const engineDefault = await ctx.client.eventId({ capacity: 1 });
    const short = await ctx.client.book(eventId, "two-seconds");
    const usual = await ctx.client.book(engineDefault, "engine-default");
    const lengthMs = (answer: Answer) => Date.parse(answer.body.expiresAt) - Date.now();
    expect(lengthMs(short)).toBeLessThanOrEqual(2000);
    expect(lengthMs(usual)).toBeGreaterThan(2000);
    expect(lengthMs(usual)).toBeLessThanOrEqual(HOLD_SECONDS * 1000);
    // The next in line is served with the event's length too, once the first hold is over.
    const next = await ctx.client.book(eventId, "next-in-line");
    expect(next.body.status).toBe("waiting");
    const served = await waitFor(
      () => ctx.client.get(next.body.id, next.body.token),
      (answer) => answer.body.status === "held",
      10_000,
    );
    expect(lengthMs(served)).toBeLessThanOrEqual(2000);
    // A PATCH changes the length of holds made after it; 0 goes back to the engine's.
    const patched = await ctx.client.request("PATCH", `/admin/events/${eventId}`, {
      headers: admin,
      body: { holdSeconds: 0, capacity: 3 },
    });
    expect(patched.body).toMatchObject({ holdSeconds: 0 });
    expect(lengthMs(await ctx.client.book(eventId, "after-patch"))).toBeGreaterThan(2000);
    const refused = await ctx.client.request("PATCH", `/admin/events/${eventId}`, {
      headers: admin,
      body: { holdSeconds: 86_401 },
    });
    expect(refused.status).toBe(422);
    expect((await ctx.client.request("GET", `/events/${eventId}`)).body).toMatchObject({ holdSeconds: 0 });
  });

  it("fifty copies of one request with one Idempotency-Key at the same moment hold once, and all get that booking", async () => {
    const eventId = await ctx.client.eventId({ capacity: 10 });
    const copies = await Promise.all(
      Array.from({ length: 50 }, () =>
        ctx.client.book(eventId, "double-clicker", 2, { "Idempotency-Key": "submit-1" }),
      ),
    );
    const ids = new Set(copies.map((answer) => answer.body.id));
    expect(ids.size).toBe(1);
    expect(copies.filter((answer) => answer.status === 201)).toHaveLength(50);
    expect(copies.filter((answer) => answer.headers.get("idempotent-replayed") === "true")).toHaveLength(49);
    expect(await checkInvariant(ctx.running.engine, eventId)).toMatchObject({ instock: 8, held: 2 });
  });

  it("an on-sale peak where everyone who gets a hold pays at once: every payment is paid in PostgreSQL, nobody is left pending (alf.io #1421)", async () => {
    const tickets = 60;
    const people = 400;
    const eventId = await ctx.client.eventId({ capacity: tickets, maxPerUser: 1 });
    const dispatcher = new Agent({ connections: 128, pipelining: 0 });
    const paid: Promise<Answer>[] = [];
    // Each person pays the moment their hold is granted, while the rest of the crowd is still arriving.
    await Promise.all(
      Array.from({ length: people }, async (_, i) => {
        const response = await fetch(`${ctx.client.base}/bookings`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ eventId, userId: `peak-${i}`, quantity: 1 }),
          // @ts-expect-error undici's dispatcher option is not in the DOM fetch types
          dispatcher,
        });
        const body = (await response.json()) as { id: string; status: string };
        if (body.status === "held") paid.push(ctx.client.webhook(completedEvent({ id: body.id, eventId }, 5000)));
      }),
    );
    await dispatcher.close();
    const answers = await Promise.all(paid);
    expect(answers).toHaveLength(tickets);
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(await checkInvariant(ctx.running.engine, eventId)).toMatchObject({ instock: 0, held: 0, paid: tickets });
    // Every payment applied, none stuck; every paid booking in PostgreSQL once.
    const { pool } = ctx.running;
    const counts = await waitFor(
      () => bookingCountsByStatus(pool, eventId),
      (byStatus) => byStatus.paid?.bookings === tickets,
      15_000,
    );
    expect(counts.held).toBeUndefined();
    const applied = await pool.query<{ status: string; n: number }>(
      "SELECT status, count(*)::int AS n FROM payments WHERE booking_id IN (SELECT id FROM bookings WHERE event_id = $1) GROUP BY 1",
      [eventId],
    );
    expect(applied.rows).toEqual([{ status: "applied", n: tickets }]);
  });
});
