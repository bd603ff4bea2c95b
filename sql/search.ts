import { inTransaction, type Pool, type Queryable } from "./db.js";

// PostgreSQL search over events (migration 005). A match is a full-text hit (every word as
// a prefix, unaccented, 'simple' configuration) or a name/venue within trigram word
// similarity of the text, so typos still match. Pages are keyset pages on (sort key, id).

const HIT_COLUMNS = `id, name, venue, starts_at, time_zone, local_date::text AS local_date, capacity, price,
  currency, status, sale_starts_at, sale_ends_at`;

// $1 start_date, $2 end_date, $3 and $4 the cursor's sort key and id. The local date is
// within a day of the UTC date; the starts_at bounds (two days wide, whatever the session's
// time zone) add nothing to the answer but let the planner range-scan the starts_at index.
const DATE_FILTER = `($1::date IS NULL OR (local_date >= $1::date AND starts_at >= $1::date - 2))
      AND ($2::date IS NULL OR (local_date <= $2::date AND starts_at < $2::date + 3))`;

// Relevance, scaled to an integer so the cursor repeats it exactly and equal scores are ties
// broken by id. Exact tier: the full-text rank (name words weigh A, venue words B). Fuzzy
// tier: trigram word similarity, the name counting twice the venue.
const EXACT_SCORE = `round(ts_rank(e.search_doc, q.words) * 1000000)::bigint`;
const FUZZY_SCORE = `round((2 * word_similarity(q.text, e.search_name) + word_similarity(q.text, e.search_venue)) * 1000000)::bigint`;

const SQL = {
  // Two tiers, like Typesense's typo_tokens_threshold: events whose name and venue hold every
  // word (as a prefix) when there are any; otherwise events within trigram word similarity
  // (typos). The trigram pass costs 4-5x the full-text one at 100k events, so it runs only
  // when needed. $8 pins the tier a first page chose, so later pages keep to it.
  byText: `
    WITH q AS (SELECT search_fold($5) AS text, to_tsquery('simple', search_fold($6)) AS words),
    exact AS (
      SELECT ${HIT_COLUMNS}, ${EXACT_SCORE} AS sort_key, 'exact' AS tier
      FROM events e, q
      WHERE $8::text IS DISTINCT FROM 'fuzzy' AND e.search_doc @@ q.words AND ${DATE_FILTER}
    ),
    fuzzy AS (
      SELECT ${HIT_COLUMNS}, ${FUZZY_SCORE} AS sort_key, 'fuzzy' AS tier
      FROM events e, q
      WHERE ($8::text = 'fuzzy' OR ($8::text IS NULL AND NOT EXISTS (SELECT FROM exact)))
        AND q.text <% (e.search_name || ' ' || e.search_venue) AND ${DATE_FILTER}
    ),
    matched AS (SELECT * FROM exact UNION ALL SELECT * FROM fuzzy)
    SELECT *, sort_key::text AS cursor_key FROM matched
    WHERE $3::bigint IS NULL OR sort_key < $3::bigint OR (sort_key = $3::bigint AND id > $4::uuid)
    ORDER BY sort_key DESC, id
    LIMIT $7`,

  // Without text: events in start order; the sort key is the start in Unix microseconds.
  byStart: `
    SELECT ${HIT_COLUMNS}, (extract(epoch FROM starts_at) * 1000000)::bigint::text AS cursor_key
    FROM events
    WHERE ${DATE_FILTER}
      AND ($3::bigint IS NULL OR (starts_at, id) > (timestamptz 'epoch' + $3::bigint * interval '1 microsecond', $4::uuid))
    ORDER BY starts_at, id
    LIMIT $5`,

  // Generated catalog events: the start is local wall-clock time, placed in its time zone here.
  insertGenerated: `
    INSERT INTO events (id, name, venue, starts_at, time_zone, capacity, price, currency, max_per_user)
    SELECT id, name, venue, local_start::timestamp AT TIME ZONE time_zone, time_zone, capacity, price, currency, max_per_user
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::bigint[], $8::text[], $9::int[])
      AS g (id, name, venue, local_start, time_zone, capacity, price, currency, max_per_user)`,

  // For the Typesense sync job and reindex.
  rowById: `SELECT ${HIT_COLUMNS} FROM events WHERE id = $1`,
  rowsAfter: `SELECT ${HIT_COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2`,

  // Settings for this transaction only (safe behind pgbouncer in transaction mode): pg_trgm's
  // threshold for `<%`, and no sequential scan: the planner does not count what
  // word_similarity costs per row and otherwise scans all events (measured 10x slower at 100k).
  setSimilarity: `SELECT set_config('pg_trgm.word_similarity_threshold', $1, true), set_config('enable_seqscan', 'off', true)`,
} as const;

/** Text searches match exactly (every word a prefix) when they can, else fuzzily (trigrams). */
export type SearchTier = "exact" | "fuzzy";

/** Where the previous page ended: its last sort key and id (ties are broken by id). */
export interface PageStart {
  /** A bigint in decimal: relevance ×10⁶, or the start in Unix microseconds (beyond 2^53). */
  key: string;
  id: string;
  /** The tier the first page chose; null when listing by start. */
  tier: SearchTier | null;
}

/** A checked search: the text as typed and its words, the date range, the page. */
export interface EventSearch {
  /** null lists events by start time. */
  text: string | null;
  /** The words of the text (letters and digits), each matched as a prefix. */
  words: string[];
  startDate: string | null;
  endDate: string | null;
  limit: number;
  after: PageStart | null;
}

/** An event as search answers show it. */
export interface EventSearchRow {
  id: string;
  name: string;
  venue: string;
  starts_at: Date;
  time_zone: string;
  local_date: string;
  capacity: number;
  price: number;
  currency: string;
  status: string;
  sale_starts_at: Date | null;
  sale_ends_at: Date | null;
}

export interface SearchRow extends EventSearchRow {
  /** The row's sort key as decimal text (a bigint JSON numbers cannot always hold). */
  cursor_key: string;
  /** Which tier of a text search the row came from; absent when listing by start. */
  tier?: SearchTier;
}

export interface SearchPage<Row> {
  rows: Row[];
  /** Where the next page starts; null on the last page. */
  next: PageStart | null;
}

/** One page of matches, reading one row past the limit to learn whether another page exists. */
export async function searchEvents(
  pool: Pool,
  query: EventSearch,
  wordSimilarity: number,
): Promise<SearchPage<SearchRow>> {
  const common = [query.startDate, query.endDate, query.after?.key ?? null, query.after?.id ?? null];
  let rows: SearchRow[];
  if (query.text === null) {
    rows = (await pool.query<SearchRow>(SQL.byStart, [...common, query.limit + 1])).rows;
  } else {
    const words = query.words.map((word) => `'${word}':*`).join(" & ");
    rows = await inTransaction(pool, async (client) => {
      await client.query(SQL.setSimilarity, [String(wordSimilarity)]);
      return (
        await client.query<SearchRow>(SQL.byText, [
          ...common,
          query.text,
          words,
          query.limit + 1,
          query.after?.tier ?? null,
        ])
      ).rows;
    });
  }
  if (rows.length <= query.limit) return { rows, next: null };
  const last = rows[query.limit - 1]!;
  return { rows: rows.slice(0, query.limit), next: { key: last.cursor_key, id: last.id, tier: last.tier ?? null } };
}

/** One event as search shows it; null if there is no such event. */
export async function eventSearchRow(db: Queryable, eventId: string): Promise<EventSearchRow | null> {
  return (await db.query<EventSearchRow>(SQL.rowById, [eventId])).rows[0] ?? null;
}

/** Up to `limit` events after `afterId`, in id order. */
export async function eventSearchRowsAfter(db: Queryable, afterId: string, limit: number): Promise<EventSearchRow[]> {
  return (await db.query<EventSearchRow>(SQL.rowsAfter, [afterId, limit])).rows;
}

/** A generated catalogue event: its start is local wall-clock time ("YYYY-MM-DD HH:MM") in its time zone. */
export interface GeneratedEventRow {
  id: string;
  name: string;
  venue: string;
  localStart: string;
  timeZone: string;
  capacity: number;
  price: number;
  currency: string;
  maxPerUser: number;
}

/** Inserts catalogue events in one statement (arrays unnested in SQL). */
export async function insertGeneratedEvents(db: Queryable, events: GeneratedEventRow[]): Promise<void> {
  const column = <K extends keyof GeneratedEventRow>(key: K) => events.map((event) => event[key]);
  await db.query(SQL.insertGenerated, [
    column("id"),
    column("name"),
    column("venue"),
    column("localStart"),
    column("timeZone"),
    column("capacity"),
    column("price"),
    column("currency"),
    column("maxPerUser"),
  ]);
}
