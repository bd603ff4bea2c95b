import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { logKey } from "../engine/keys.js";
import { registry } from "../engine/metrics.js";
import { ADMIN_TOKEN, useTestEngine } from "./helpers.js";

// A log entry PostgreSQL refuses must not stop any other event's bookings (nor the rest of its
// own event's log): after RELAY_MAX_ATTEMPTS passes it is set aside in relay_dead_letters with
// its error, the relay moves on, and an operator replays it once the cause is fixed.

const MAX_ATTEMPTS = 2;
const ctx = useTestEngine({ RELAY_MAX_ATTEMPTS: String(MAX_ATTEMPTS), RELAY_BATCH: "50" });

const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };

async function rowStatus(bookingId: string): Promise<string | null> {
  const { rows } = await ctx.running.pool.query("SELECT status FROM bookings WHERE id = $1", [bookingId]);
  return rows[0]?.status ?? null;
}

async function deadLetterCount(): Promise<number> {
  const metric = await registry.getSingleMetric("onsale_relay_dead_letters_total")?.get();
  return metric?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
}

/** A copy of the event's last log entry with some fields changed; its stream id. */
async function forgeEntry(eventId: string, changes: Record<string, string>): Promise<string> {
  const redis = ctx.running.engine.redis;
  const [, flat] = (await redis.xrevrange(logKey(eventId), "+", "-", "COUNT", 1))[0]!;
  const fields = new Map<string, string>();
  for (let i = 0; i < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
  for (const [name, value] of Object.entries(changes)) fields.set(name, value);
  return (await redis.xadd(logKey(eventId), "*", ...[...fields].flat()))!;
}

/** A copy of an entry the engine logged, for a booking nobody made, with a NUL in its email. */
async function poisonLog(eventId: string): Promise<string> {
  const bookingId = randomUUID();
  await forgeEntry(eventId, { id: bookingId, u: "poisoned-user", em: "a\u0000b@example.com" });
  return bookingId;
}

describe("relay dead letters", () => {
  it("sets aside an entry PostgreSQL refuses; other events and later entries still reach PostgreSQL", async () => {
    // Created first, the poisoned event is the first the relay visits.
    const poisoned = await ctx.client.eventId({ capacity: 10 });
    const healthy = await ctx.client.eventId({ capacity: 10 });
    const before = await ctx.client.book(poisoned, "dl-before");
    const badId = await poisonLog(poisoned);
    const after = await ctx.client.book(poisoned, "dl-after");
    const other = await ctx.client.book(healthy, "dl-other");
    const deadBefore = await deadLetterCount();

    for (let pass = 0; pass < MAX_ATTEMPTS + 2; pass++) await ctx.running.relay.pass();

    expect(await rowStatus(other.body.id)).toBe("held");
    expect(await rowStatus(before.body.id)).toBe("held");
    expect(await rowStatus(after.body.id)).toBe("held");
    expect(await rowStatus(badId)).toBeNull();
    const { rows } = await ctx.running.pool.query(
      "SELECT booking_id, error, replayed_at FROM relay_dead_letters WHERE event_id = $1",
      [poisoned],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].booking_id).toBe(badId);
    expect(rows[0].error).toMatch(/0x00/);
    // This relay set it aside: the relays of other test files sharing the database try 5 times.
    expect(await deadLetterCount()).toBeGreaterThanOrEqual(deadBefore + 1);
    // The stream moved on: the offset is past every entry, so the log is trimmed.
    expect(await ctx.running.engine.redis.xlen(logKey(poisoned))).toBeLessThanOrEqual(1);

    // Nothing an operator can fix in a NUL: a replay leaves it set aside, with its error.
    const replay = await ctx.client.request("POST", "/admin/relay/replay", { headers: admin });
    expect(replay.status).toBe(200);
    expect(replay.body.failed).toBeGreaterThanOrEqual(1);
    expect(await rowStatus(badId)).toBeNull();
  });

  it("replays an entry once the cause of its refusal is gone", async () => {
    const eventId = await ctx.client.eventId({ capacity: 10 });
    const refused = await ctx.client.book(eventId, "dl-refused");
    const trigger = `refuse_${refused.body.id.replace(/-/g, "")}`;
    const pool = ctx.running.pool;
    await pool.query(`CREATE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.id = '${refused.body.id}' THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$`);
    await pool.query(
      `CREATE TRIGGER ${trigger} BEFORE INSERT OR UPDATE ON bookings FOR EACH ROW EXECUTE FUNCTION ${trigger}()`,
    );
    try {
      const next = await ctx.client.book(eventId, "dl-next");
      for (let pass = 0; pass < MAX_ATTEMPTS + 2; pass++) await ctx.running.relay.pass();
      expect(await rowStatus(next.body.id)).toBe("held");
      expect(await rowStatus(refused.body.id)).toBeNull();
      const list = await ctx.client.request("GET", "/admin/relay/dead-letters", { headers: admin });
      expect(list.status).toBe(200);
      const letter = list.body.data.find((d: { bookingId: string }) => d.bookingId === refused.body.id);
      expect(letter.error).toMatch(/refused by test/);
    } finally {
      await pool.query(`DROP TRIGGER ${trigger} ON bookings`);
      await pool.query(`DROP FUNCTION ${trigger}()`);
    }
    const replay = await ctx.client.request("POST", "/admin/relay/replay", { headers: admin });
    expect(replay.status).toBe(200);
    expect(replay.body.replayed).toBeGreaterThanOrEqual(1);
    expect(await rowStatus(refused.body.id)).toBe("held");
    const { rows } = await pool.query("SELECT replayed_at FROM relay_dead_letters WHERE booking_id = $1", [
      refused.body.id,
    ]);
    expect(rows[0].replayed_at).not.toBeNull();
    // Replayed once: a second replay has nothing left of it to do.
    const again = await ctx.client.request("POST", "/admin/relay/replay", { headers: admin });
    expect(again.body.replayed).toBe(0);
  });

  it("sets aside an entry naming another event's booking, and leaves that booking's row as it was", async () => {
    const owner = await ctx.client.eventId({ capacity: 10 });
    const other = await ctx.client.eventId({ capacity: 10 });
    const booking = await ctx.client.book(owner, "dl-owner");
    await ctx.client.book(other, "dl-elsewhere");
    for (let pass = 0; pass < 2; pass++) await ctx.running.relay.pass();
    const logIdOf = async () =>
      (await ctx.running.pool.query("SELECT log_id FROM bookings WHERE id = $1", [booking.body.id])).rows[0]?.log_id;
    const written = await logIdOf();
    expect(written).toBeDefined();

    const forged = await forgeEntry(other, { id: booking.body.id });
    for (let pass = 0; pass < MAX_ATTEMPTS + 2; pass++) await ctx.running.relay.pass();
    expect(await logIdOf()).toBe(written);
    const { rows } = await ctx.running.pool.query(
      "SELECT booking_id, error FROM relay_dead_letters WHERE event_id = $1 AND stream_id = $2",
      [other, forged],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].booking_id).toBe(booking.body.id);
  });
});
