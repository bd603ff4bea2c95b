import { describe, expect, it } from "vitest";
import { logKey } from "../engine/keys.js";
import { Relay, type StateChange } from "../jobs/relay.js";
import { api, completedEvent, waitFor, startTestEngine, useTestEngine } from "./helpers.js";

// Exactly-once persistence: however many relays run, each booking lands once and the
// PostgreSQL rows agree with Redis.

const ctx = useTestEngine({ RELAY_BATCH: "7", RELAY_BATCH_MAX: "14" });

describe("relay", () => {
  it("writes every booking exactly once while three relays compete, in small batches", async () => {
    const eventId = await ctx.client.eventId({ capacity: 30 });
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => ctx.client.book(eventId, `relay-${i}`, 1 + (i % 2))),
    );
    const held = answers.filter((a) => a.status === 201);
    for (const a of held.slice(0, 10))
      await ctx.client.webhook(completedEvent({ id: a.body.id, eventId }, a.body.amount));
    for (const a of held.slice(10, 15)) await ctx.client.cancel(a.body.id, a.body.token);

    // Each relay reports the state changes it commits (the hook that queues notifications):
    // a batch written by two relays at once would report its changes twice.
    const reported: StateChange[] = [];
    const report = async (_client: unknown, _eventId: string, changes: StateChange[]) => reported.push(...changes);
    const relays = Array.from(
      { length: 3 },
      () => new Relay(ctx.running.pool, ctx.running.engine.redis, ctx.running.config.relay, ctx.running.log, report),
    );
    // Each pass writes at most 7 entries per event; run until the log is drained.
    for (let round = 0; round < 100; round++) {
      const written = await Promise.all(relays.map((relay) => relay.relayEvent(eventId)));
      if (written.every((n) => n === 0)) break;
    }

    const { rows } = await ctx.running.pool.query(
      "SELECT id, status, quantity, arrival_seq, hold_seq FROM bookings WHERE event_id = $1",
      [eventId],
    );
    const created = answers.filter((a) => a.status === 201 || a.status === 202);
    expect(rows).toHaveLength(created.length);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    for (const answer of created) {
      const redisView = (await ctx.client.get(answer.body.id, answer.body.token)).body;
      const row = rows.find((r) => r.id === answer.body.id)!;
      expect(row.status).toBe(redisView.status);
      expect(row.quantity).toBe(redisView.quantity);
    }
    const paid = rows.filter((r) => r.status === "paid");
    expect(paid).toHaveLength(10);
    const { rows: sums } = await ctx.running.pool.query(
      "SELECT count(*)::int AS n FROM bookings b JOIN payments p ON p.booking_id = b.id AND p.status = 'applied' WHERE b.event_id = $1 AND b.status = 'paid'",
      [eventId],
    );
    expect(sums[0].n).toBe(10);
    // Exactly once: each booking's reported changes chain from nothing to its row's status, none twice.
    for (const row of rows) {
      const chain = reported.filter((change) => change.bookingId === row.id);
      expect(chain[0]?.from, `booking ${row.id}`).toBeNull();
      for (let i = 1; i < chain.length; i++)
        expect(chain[i]!.from, `booking ${row.id}: ${JSON.stringify(chain)}`).toBe(chain[i - 1]!.to);
      expect(chain.at(-1)?.to).toBe(row.status);
    }
    expect(new Set(reported.map((change) => change.bookingId)).size).toBe(rows.length);
    // FCFS in PostgreSQL too: holds were granted in arrival order.
    const granted = rows.filter((r) => r.hold_seq !== null).sort((a, b) => a.hold_seq - b.hold_seq);
    for (let i = 1; i < granted.length; i++) expect(granted[i].arrival_seq).toBeGreaterThan(granted[i - 1].arrival_seq);
    // The log keeps only what is not yet in PostgreSQL (the last applied entry stays as the marker).
    expect(await ctx.running.engine.redis.xlen(logKey(eventId))).toBeLessThanOrEqual(1);
  });

  it("writes a backlog in batches that double while they come back full, up to RELAY_BATCH_MAX, then RELAY_BATCH again", async () => {
    const eventId = await ctx.client.eventId({ capacity: 100 });
    const relay = new Relay(ctx.running.pool, ctx.running.engine.redis, ctx.running.config.relay, ctx.running.log);
    const drain = async () => {
      const sizes: number[] = [];
      for (let n = await relay.relayEvent(eventId); n > 0; n = await relay.relayEvent(eventId)) sizes.push(n);
      return sizes;
    };
    // One log entry per held booking.
    for (let i = 0; i < 30; i++) expect((await ctx.client.book(eventId, `backlog-${i}`)).status).toBe(201);
    expect(await drain()).toEqual([7, 14, 9]);
    for (let i = 0; i < 10; i++) expect((await ctx.client.book(eventId, `later-${i}`)).status).toBe(201);
    expect(await drain()).toEqual([7, 3]);
    const { rows } = await ctx.running.pool.query("SELECT count(*)::int AS n FROM bookings WHERE event_id = $1", [
      eventId,
    ]);
    expect(rows[0].n).toBe(40);
  });

  it("runs by itself in the work role that npm start runs", async () => {
    const worker = await startTestEngine(
      { RELAY_INTERVAL_MS: "50", SWEEP_INTERVAL_MS: "50", HOLD_SECONDS: "1" },
      { serve: true, work: true, gateway: false },
    );
    try {
      const workerClient = api(worker);
      const eventId = await workerClient.eventId({ capacity: 1 });
      const held = await workerClient.book(eventId, "worker-held");
      const waiting = await workerClient.book(eventId, "worker-waiting");
      // Nobody books after this: only the sweep can expire the hold and serve the line.
      await waitFor(
        () => workerClient.get(waiting.body.id, waiting.body.token),
        (answer) => answer.body.status === "held",
        15_000,
      );
      // In PostgreSQL too: the first hold expired, and the second person was served (their
      // one-second hold may itself have expired by the time the row is read).
      const rows = await waitFor(
        async () =>
          (
            await worker.pool.query(
              "SELECT id, status, hold_seq FROM bookings WHERE event_id = $1 ORDER BY arrival_seq",
              [eventId],
            )
          ).rows,
        (r) => r.length === 2 && r[0].status === "expired" && r[1].hold_seq !== null,
      );
      expect(rows.map((r) => r.id)).toEqual([held.body.id, waiting.body.id]);
    } finally {
      await worker.stop();
    }
  });
});
