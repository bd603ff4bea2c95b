import type { Queryable } from "./db.js";

// Relay offsets: for each event, the id of the last log entry written to PostgreSQL. A row
// is created with its event (sql/events.ts) and locked by the relay that writes the next batch.

const SQL = {
  // Read without a lock: only to find which events have log entries past them.
  active: `SELECT event_id, stream_id FROM relay_offsets WHERE active ORDER BY updated_at`,

  // One relay at a time per event: a second relay skips an event whose row is locked,
  // and takes it over as soon as the holder's transaction ends (or its connection dies).
  lock: `SELECT stream_id FROM relay_offsets WHERE event_id = $1 AND active FOR UPDATE SKIP LOCKED`,

  save: `UPDATE relay_offsets SET stream_id = $2, updated_at = now() WHERE event_id = $1`,

  ofEvent: `SELECT stream_id FROM relay_offsets WHERE event_id = $1`,
} as const;

export interface RelayOffset {
  eventId: string;
  /** The last log entry written; "0-0" before the first. */
  streamId: string;
}

export async function activeRelayOffsets(db: Queryable): Promise<RelayOffset[]> {
  const { rows } = await db.query<{ event_id: string; stream_id: string }>(SQL.active);
  return rows.map((row) => ({ eventId: row.event_id, streamId: row.stream_id }));
}

/** Locks the event's offset for this transaction and returns it; null if another relay holds it (or the event is not relayed). */
export async function lockRelayOffset(db: Queryable, eventId: string): Promise<string | null> {
  const { rows } = await db.query<{ stream_id: string }>(SQL.lock, [eventId]);
  return rows[0]?.stream_id ?? null;
}

export async function saveRelayOffset(db: Queryable, eventId: string, streamId: string): Promise<void> {
  await db.query(SQL.save, [eventId, streamId]);
}

/** Where the relay is in the event's log; null if the event is not relayed. */
export async function relayOffsetOf(db: Queryable, eventId: string): Promise<string | null> {
  const { rows } = await db.query<{ stream_id: string }>(SQL.ofEvent, [eventId]);
  return rows[0]?.stream_id ?? null;
}
