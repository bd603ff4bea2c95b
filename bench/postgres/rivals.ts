import { readFileSync } from "node:fs";
import { EngineError } from "../../engine/errors.js";
import { uuidv7 } from "../../engine/ids.js";
import type { Reply, RouteSpec } from "../../http/exchange.js";
import { createPool, type Pool } from "../../sql/db.js";
import { ensureDatabase } from "../../sql/migrate.js";
import { bookingFields } from "./design.js";

// The PostgreSQL rivals a competent team would build, behind the same uWS layer and request:
//   prepared  one statement per request (take stock or a line position, insert the booking)
//   sharded   the same, stock spread over SHARDS rows claimed FOR UPDATE SKIP LOCKED
//   writer    one writer per event: requests queue in arrival order, each batch is decided in
//             memory and written by one statement (one stock update, a multi-row insert)
// Durability is set per session (synchronous_commit), never in the server's configuration.

export const RIVALS = ["prepared", "sharded", "writer"] as const;
export type Rival = (typeof RIVALS)[number];

const SCHEMA = readFileSync(new URL("./rivals.sql", import.meta.url), "utf8");
const SHARDS = 16;
/** Requests one writer batch takes at most. */
const BATCH_MAX = 1000;

/** After `taken` (stock taken, or no row): inserts the booking held or waiting, or nothing when the line ($5) is full. */
const insertAnswer = `
  answer AS (SELECT CASE WHEN EXISTS (SELECT 1 FROM taken) THEN 0 ELSE nextval('rival.line') END AS position)
  INSERT INTO rival.bookings (event_id, user_id, quantity, status, position, expires_at)
  SELECT $1, $2, $3, CASE WHEN position = 0 THEN 'held' ELSE 'waiting' END, position, now() + make_interval(secs => $4)
  FROM answer WHERE position <= $5
  RETURNING id, status, position, expires_at`;

const lineNotStarted = "NOT (SELECT is_called FROM rival.line)";

const sql = {
  insertEvent: `INSERT INTO rival.events (id, capacity, instock, line_max) VALUES ($1, $2, $2, $3)`,
  insertShards: `INSERT INTO rival.stock (event_id, shard, instock) SELECT $1, s, $2 / $3 + CASE WHEN s < $2 % $3 THEN 1 ELSE 0 END FROM generate_series(0, $3 - 1) AS s`,
  prepared: `
    WITH taken AS (UPDATE rival.events SET instock = instock - $3 WHERE id = $1 AND instock >= $3 AND ${lineNotStarted} RETURNING id),
    ${insertAnswer}`,
  sharded: `
    WITH claimed AS (
      SELECT shard FROM rival.stock WHERE event_id = $1 AND instock >= $3 AND ${lineNotStarted}
      ORDER BY (shard + $6) % ${SHARDS} LIMIT 1 FOR UPDATE SKIP LOCKED),
    taken AS (UPDATE rival.stock s SET instock = s.instock - $3 FROM claimed WHERE s.event_id = $1 AND s.shard = claimed.shard RETURNING s.shard),
    ${insertAnswer}`,
  readEvent: `SELECT instock, line_length, line_max FROM rival.events WHERE id = $1`,
  writeBatch: `
    WITH taken AS (
      UPDATE rival.events SET instock = instock - $2, line_length = line_length + $3
      WHERE id = $1 AND instock >= $2 RETURNING id)
    INSERT INTO rival.bookings (event_id, user_id, quantity, status, position, expires_at)
    SELECT taken.id, b.user_id, b.quantity, b.status, b.position, now() + make_interval(secs => $8)
    FROM taken, unnest($4::text[], $5::int[], $6::text[], $7::int[]) AS b(user_id, quantity, status, position)
    RETURNING id, user_id`,
  tally: `
    SELECT e.capacity,
      CASE WHEN $2 THEN (SELECT sum(instock) FROM rival.stock WHERE event_id = e.id) ELSE e.instock END::int AS instock,
      (SELECT COALESCE(sum(quantity), 0) FROM rival.bookings WHERE event_id = e.id AND status = 'held')::int AS held,
      (SELECT count(*) FROM rival.bookings WHERE event_id = e.id AND status = 'waiting')::int AS waiting, e.line_max
    FROM rival.events e WHERE e.id = $1`,
} as const;

/** The rivals' own database next to the engine's: <name>_rival. */
export function rivalDatabaseUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `${url.pathname}_rival`;
  return url.toString();
}

/** A fresh schema and one event of `tickets` with a line of `lineMax`; returns its id. */
export async function prepareRival(databaseUrl: string, tickets: number, lineMax: number): Promise<string> {
  await ensureDatabase(databaseUrl);
  const pool = createPool(databaseUrl, 1);
  try {
    await pool.query(SCHEMA);
    const eventId = uuidv7();
    await pool.query(sql.insertEvent, [eventId, tickets, lineMax]);
    await pool.query(sql.insertShards, [eventId, tickets, SHARDS]);
    return eventId;
  } finally {
    await pool.end();
  }
}

/** No oversell, no line longer than its room: held + instock == capacity, waiting <= lineMax. */
export async function checkRival(
  databaseUrl: string,
  eventId: string,
  rival: Rival,
): Promise<{ ok: boolean; capacity: number; instock: number; held: number; waiting: number }> {
  const pool = createPool(databaseUrl, 1);
  try {
    const { rows } = await pool.query<{
      capacity: number;
      instock: number;
      held: number;
      waiting: number;
      line_max: number;
    }>(sql.tally, [eventId, rival === "sharded"]);
    const { line_max: lineMax, ...row } = rows[0]!;
    return { ok: row.instock >= 0 && row.instock + row.held === row.capacity && row.waiting <= lineMax, ...row };
  } finally {
    await pool.end();
  }
}

/** A pool whose sessions commit with the durability asked for. */
export function rivalPool(databaseUrl: string, size: number, synchronousCommit: "on" | "off"): Pool {
  const pool = createPool(databaseUrl, size);
  pool.on(
    "connect",
    (client) => void client.query(`SET synchronous_commit = ${synchronousCommit === "on" ? "on" : "off"}`),
  );
  return pool;
}

interface Answer {
  id: string;
  status: "held" | "waiting";
  position: number;
  expiresAt: Date;
}

function reply(answer: Answer | undefined, quantity: number, lineMax: number): Reply {
  if (answer === undefined) throw new EngineError("LINE_FULL", String(lineMax));
  if (answer.status === "held")
    return {
      status: 201,
      json: { id: String(answer.id), status: "held", quantity, expiresAt: answer.expiresAt.toISOString() },
    };
  return { status: 202, json: { id: String(answer.id), status: "waiting", quantity, position: answer.position } };
}

/** Holds in arrival order for one event: one batch in flight, decided in memory, one statement each. */
class EventWriter {
  private readonly queue: {
    userId: string;
    quantity: number;
    resolve: (a: Answer | undefined) => void;
    reject: (e: Error) => void;
  }[] = [];
  private state: { instock: number; lineLength: number; lineMax: number } | null = null;
  private busy = false;

  constructor(
    private readonly pool: Pool,
    private readonly eventId: string,
    private readonly holdSeconds: number,
  ) {}

  submit(userId: string, quantity: number): Promise<Answer | undefined> {
    return new Promise((resolve, reject) => {
      this.queue.push({ userId, quantity, resolve, reject });
      if (!this.busy) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.busy = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, BATCH_MAX);
      try {
        const answers = await this.write(batch);
        for (const [i, request] of batch.entries()) request.resolve(answers[i]);
      } catch (error) {
        this.state = null; // read again: the batch did not commit
        for (const request of batch) request.reject(error as Error);
      }
    }
    this.busy = false;
  }

  private async write(batch: { userId: string; quantity: number }[]): Promise<(Answer | undefined)[]> {
    if (this.state === null) {
      const { rows } = await this.pool.query<{ instock: number; line_length: number; line_max: number }>(
        sql.readEvent,
        [this.eventId],
      );
      this.state = { instock: rows[0]!.instock, lineLength: rows[0]!.line_length, lineMax: rows[0]!.line_max };
    }
    const next = { ...this.state };
    const decided = batch.map(({ quantity }) => {
      if (next.lineLength === 0 && next.instock >= quantity) {
        next.instock -= quantity;
        return { status: "held" as const, position: 0 };
      }
      if (next.lineLength >= next.lineMax) return null;
      next.lineLength += 1;
      return { status: "waiting" as const, position: next.lineLength };
    });
    const kept = batch.flatMap((request, i) => (decided[i] ? [{ ...request, ...decided[i] }] : []));
    const taken = this.state.instock - next.instock;
    const { rows } = await this.pool.query<{ id: string; user_id: string }>(sql.writeBatch, [
      this.eventId,
      taken,
      next.lineLength - this.state.lineLength,
      kept.map((b) => b.userId),
      kept.map((b) => b.quantity),
      kept.map((b) => b.status),
      kept.map((b) => b.position),
      this.holdSeconds,
    ]);
    if (rows.length !== kept.length) throw new Error(`writer batch wrote ${rows.length} of ${kept.length} bookings`);
    this.state = next;
    const ids = new Map(rows.map((row) => [row.user_id, row.id]));
    const expiresAt = new Date(Date.now() + this.holdSeconds * 1000);
    return batch.map((request, i) =>
      decided[i] ? { id: ids.get(request.userId)!, ...decided[i]!, expiresAt } : undefined,
    );
  }
}

export function rivalRoutes(rival: Rival, pool: Pool, holdSeconds: number, lineMax: number): RouteSpec[] {
  const writers = new Map<string, EventWriter>();
  let turn = 0;
  const answer = async (eventId: string, userId: string, quantity: number): Promise<Answer | undefined> => {
    if (rival === "writer") {
      let writer = writers.get(eventId);
      if (writer === undefined) {
        writer = new EventWriter(pool, eventId, holdSeconds);
        writers.set(eventId, writer);
      }
      return writer.submit(userId, quantity);
    }
    turn = (turn + 1) % SHARDS;
    const params = [eventId, userId, quantity, holdSeconds, lineMax, ...(rival === "sharded" ? [turn] : [])];
    const { rows } = await pool.query<{ id: string; status: "held" | "waiting"; position: number; expires_at: Date }>({
      name: rival,
      text: sql[rival],
      values: params,
    });
    const row = rows[0];
    return row && { id: row.id, status: row.status, position: row.position, expiresAt: row.expires_at };
  };
  return [
    {
      method: "post",
      pattern: "/bookings",
      name: `rival.${rival}.bookings.create`,
      auth: "none",
      headers: ["content-type"],
      bodyLimit: 16 * 1024,
      async handler({ body }): Promise<Reply> {
        const { eventId, userId, quantity } = bookingFields(body);
        return reply(await answer(eventId, userId, quantity), quantity, lineMax);
      },
    },
  ];
}
