import { readFileSync } from "node:fs";
import { EngineError } from "../../engine/errors.js";
import { uuidv7 } from "../../engine/ids.js";
import type { Reply, RouteSpec } from "../../http/exchange.js";
import { createPool, inTransaction, type Pool } from "../../sql/db.js";
import { ensureDatabase } from "../../sql/migrate.js";
import { Fields, parseJsonObject } from "../../http/validate.js";

// The comparison design: the same uWS layer and request, storage in PostgreSQL only.

const SCHEMA = readFileSync(new URL("./schema.sql", import.meta.url), "utf8");

const sql = {
  insertEvent: `INSERT INTO pgdesign.events (id, capacity, instock) VALUES ($1, $2, $2)`,
  takeStock: `UPDATE pgdesign.events SET instock = instock - $2 WHERE id = $1 AND instock >= $2 RETURNING instock`,
  insertBooking: `
    INSERT INTO pgdesign.bookings (event_id, user_id, quantity, status, expires_at)
    VALUES ($1, $2, $3, 'held', now() + make_interval(secs => $4)) RETURNING id, expires_at`,
  tally: `
    SELECT e.capacity, e.instock, COALESCE(sum(b.quantity), 0)::int AS held
    FROM pgdesign.events e LEFT JOIN pgdesign.bookings b ON b.event_id = e.id
    WHERE e.id = $1 GROUP BY e.id`,
} as const;

/** The booking request, checked as strictly as the engine's route checks it. */
export function bookingFields(body: Buffer): { eventId: string; userId: string; quantity: number } {
  const fields = new Fields(parseJsonObject(body));
  const userId = fields.string("userId", { required: true, maxChars: 128 });
  const eventId = fields.string("eventId", {
    required: true,
    maxChars: 36,
    pattern: /^[0-9a-f-]{36}$/,
    patternHint: "must be an event id",
  });
  const quantity = fields.integer("quantity", { required: true, min: 1, max: 10 });
  fields.done();
  return { eventId: eventId!, userId: userId!, quantity: quantity! };
}

/** The design's own database next to the engine's: <name>_pgdesign. */
export function designDatabaseUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `${url.pathname}_pgdesign`;
  return url.toString();
}

export async function prepareDesign(databaseUrl: string, tickets: number): Promise<string> {
  await ensureDatabase(databaseUrl);
  const pool = createPool(databaseUrl, 1);
  try {
    await pool.query(SCHEMA);
    const eventId = uuidv7();
    await pool.query(sql.insertEvent, [eventId, tickets]);
    return eventId;
  } finally {
    await pool.end();
  }
}

/** No oversell in the design either: booked + instock == capacity. */
export async function checkDesign(
  databaseUrl: string,
  eventId: string,
): Promise<{ ok: boolean; capacity: number; instock: number; held: number }> {
  const pool = createPool(databaseUrl, 1);
  try {
    const { rows } = await pool.query<{ capacity: number; instock: number; held: number }>(sql.tally, [eventId]);
    const row = rows[0]!;
    return { ok: row.instock >= 0 && row.instock + row.held === row.capacity, ...row };
  } finally {
    await pool.end();
  }
}

export function designRoutes(pool: Pool, holdSeconds: number): RouteSpec[] {
  return [
    {
      method: "post",
      pattern: "/bookings",
      name: "pgdesign.bookings.create",
      auth: "none",
      headers: ["content-type"],
      bodyLimit: 16 * 1024,
      async handler({ body }): Promise<Reply> {
        const { eventId, userId, quantity } = bookingFields(body);
        return inTransaction(pool, async (client) => {
          const taken = await client.query(sql.takeStock, [eventId, quantity]);
          if (taken.rowCount === 0) throw new EngineError("SOLD_OUT", "");
          const { rows } = await client.query<{ id: string; expires_at: Date }>(sql.insertBooking, [
            eventId,
            userId,
            quantity,
            holdSeconds,
          ]);
          return {
            status: 201,
            json: { id: String(rows[0]!.id), status: "held", quantity, expiresAt: rows[0]!.expires_at.toISOString() },
          };
        });
      },
    },
  ];
}
