import type { Queryable } from "./db.js";

// Relay offsets: for each event, the id of the last log entry written to PostgreSQL. A row
// is created with its event (sql/events.ts) and locked by the relay that writes the next batch.

const SQL = {
  // Read without a lock: only to find which events have log entries past them.
  active: `SELECT event_id, stream_id FROM relay_offsets WHERE active ORDER BY updated_at`,

  // One relay at a time per event: a second relay skips an event whose row is locked,
  // and takes it over as soon as the holder's transaction ends (or its connection dies).
  lock: `SELECT stream_id, failures FROM relay_offsets WHERE event_id = $1 AND active FOR UPDATE SKIP LOCKED`,

  // A replay waits for the relay's batch of the event to end, and the relay for the replay.
  lockWaiting: `SELECT 1 FROM relay_offsets WHERE event_id = $1 FOR UPDATE`,

  save: `UPDATE relay_offsets SET stream_id = $2, failures = 0, last_error = NULL, updated_at = now() WHERE event_id = $1`,

  // Only if the offset has not moved meanwhile; the new updated_at puts the event last in line.
  failed: `
    UPDATE relay_offsets SET failures = failures + 1, last_error = $3, updated_at = now()
    WHERE event_id = $1 AND stream_id = $2
    RETURNING failures`,

  setAside: `
    INSERT INTO relay_dead_letters (event_id, stream_id, booking_id, entry, error)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (event_id, stream_id) DO NOTHING`,

  open: `
    SELECT id, event_id, stream_id, booking_id, entry, error, created_at, replayed_at
    FROM relay_dead_letters
    WHERE replayed_at IS NULL AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))
    ORDER BY id LIMIT $2`,

  lockLetter: `SELECT 1 FROM relay_dead_letters WHERE id = $1 AND replayed_at IS NULL FOR UPDATE`,

  replayed: `UPDATE relay_dead_letters SET replayed_at = now() WHERE id = $1`,

  retried: `UPDATE relay_dead_letters SET error = $2 WHERE id = $1`,

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

export interface LockedOffset {
  streamId: string;
  /** Failed passes over the entries just past streamId. */
  failures: number;
}

/** Locks the event's offset for this transaction and returns it; null if another relay holds it (or the event is not relayed). */
export async function lockRelayOffset(db: Queryable, eventId: string): Promise<LockedOffset | null> {
  const { rows } = await db.query<{ stream_id: string; failures: number }>(SQL.lock, [eventId]);
  const row = rows[0];
  return row === undefined ? null : { streamId: row.stream_id, failures: row.failures };
}

/** Locks the event's offset, waiting for a relay that holds it. */
export async function waitForRelayOffset(db: Queryable, eventId: string): Promise<void> {
  await db.query(SQL.lockWaiting, [eventId]);
}

/** Counts a failed pass over the entries past streamId; the count now, or null if the offset moved meanwhile. */
export async function recordRelayFailure(
  db: Queryable,
  eventId: string,
  streamId: string,
  error: string,
): Promise<number | null> {
  const { rows } = await db.query<{ failures: number }>(SQL.failed, [eventId, streamId, error]);
  return rows[0]?.failures ?? null;
}

export async function saveRelayOffset(db: Queryable, eventId: string, streamId: string): Promise<void> {
  await db.query(SQL.save, [eventId, streamId]);
}

/** Where the relay is in the event's log; null if the event is not relayed. */
export async function relayOffsetOf(db: Queryable, eventId: string): Promise<string | null> {
  const { rows } = await db.query<{ stream_id: string }>(SQL.ofEvent, [eventId]);
  return rows[0]?.stream_id ?? null;
}

// Dead letters: log entries PostgreSQL refused RELAY_MAX_ATTEMPTS times, kept until replayed.

export interface DeadLetter {
  id: number;
  eventId: string;
  streamId: string;
  bookingId: string;
  /** The entry's stream fields, flat (name, value, name, value…), as the log held them. */
  fields: string[];
  error: string;
  createdAt: Date;
  replayedAt: Date | null;
}

export interface NewDeadLetter {
  eventId: string;
  streamId: string;
  bookingId: string;
  fields: string[];
  error: string;
}

/** Sets an entry aside (once: a second time for the same entry changes nothing). */
export async function insertDeadLetter(db: Queryable, letter: NewDeadLetter): Promise<void> {
  // Bytes, not text or jsonb: neither can hold a NUL, which may be why the entry was refused.
  const entry = Buffer.from(JSON.stringify(letter.fields), "utf8");
  await db.query(SQL.setAside, [letter.eventId, letter.streamId, letter.bookingId, entry, letter.error]);
}

/** Dead letters not yet replayed, oldest first: all of them, or those of these ids. */
export async function openDeadLetters(db: Queryable, ids: number[] | null, limit: number): Promise<DeadLetter[]> {
  const { rows } = await db.query<{
    id: number;
    event_id: string;
    stream_id: string;
    booking_id: string;
    entry: Buffer;
    error: string;
    created_at: Date;
    replayed_at: Date | null;
  }>(SQL.open, [ids, limit]);
  return rows.map((row) => ({
    id: row.id,
    eventId: row.event_id,
    streamId: row.stream_id,
    bookingId: row.booking_id,
    fields: JSON.parse(row.entry.toString("utf8")) as string[],
    error: row.error,
    createdAt: row.created_at,
    replayedAt: row.replayed_at,
  }));
}

/** Locks a dead letter for its replay; false if it is gone or already replayed. */
export async function lockDeadLetter(db: Queryable, id: number): Promise<boolean> {
  return ((await db.query(SQL.lockLetter, [id])).rowCount ?? 0) > 0;
}

export async function markDeadLetterReplayed(db: Queryable, id: number): Promise<void> {
  await db.query(SQL.replayed, [id]);
}

/** Keeps the error of the latest replay that failed. */
export async function updateDeadLetterError(db: Queryable, id: number, error: string): Promise<void> {
  await db.query(SQL.retried, [id, error]);
}
