import Typesense from "typesense";
import type { CollectionCreateSchema } from "typesense/lib/Typesense/Collections.js";
import type { SearchConfig } from "../engine/config.js";
import type { Pool } from "../sql/db.js";
import { countEvents } from "../sql/events.js";
import { eventSearchRow, eventSearchRowsAfter, type EventSearchRow } from "../sql/search.js";
import type { SearchQuery } from "./query.js";
import type { SearchBackend, SearchHit } from "./service.js";

// The Typesense backend (TYPESENSE_URL): one document per event, kept in sync by the
// search-sync job and rebuilt by `onsale search reindex`. PostgreSQL stays the source of
// truth; each event's local date comes from its generated column, so both backends filter
// dates alike.

type Client = InstanceType<typeof Typesense.Client>;

interface EventDocument {
  [field: string]: unknown;
  id: string;
  name: string;
  venue: string;
  starts_at_ms: number;
  time_zone: string;
  /** The local calendar date as YYYYMMDD, so date filters are integer ranges. */
  local_day: number;
  capacity: number;
  price: number;
  currency: string;
  status: string;
  sale_starts_at_ms?: number;
  sale_ends_at_ms?: number;
}

/** Typesense answers at most this many hits per page. */
const TYPESENSE_PER_PAGE_MAX = 250;
/** Typos tolerated per word (Typesense's maximum). */
const TYPOS_PER_WORD = 2;

function collectionSchema(name: string): CollectionCreateSchema {
  return {
    name,
    default_sorting_field: "starts_at_ms",
    fields: [
      { name: "name", type: "string" },
      { name: "venue", type: "string" },
      { name: "starts_at_ms", type: "int64" },
      { name: "time_zone", type: "string", index: false, optional: true },
      { name: "local_day", type: "int32" },
      { name: "capacity", type: "int32", index: false, optional: true },
      { name: "price", type: "int64", index: false, optional: true },
      { name: "currency", type: "string", index: false, optional: true },
      { name: "status", type: "string", facet: true },
      { name: "sale_starts_at_ms", type: "int64", index: false, optional: true },
      { name: "sale_ends_at_ms", type: "int64", index: false, optional: true },
    ],
  };
}

export function typesenseClient(config: SearchConfig): Client {
  const url = new URL(config.typesenseUrl);
  const protocol = url.protocol.replace(":", "");
  return new Typesense.Client({
    nodes: [{ host: url.hostname, port: Number(url.port || (protocol === "https" ? 443 : 80)), protocol }],
    apiKey: config.typesenseApiKey,
    connectionTimeoutSeconds: 5,
  });
}

function documentOf(row: EventSearchRow): EventDocument {
  return {
    id: row.id,
    name: row.name,
    venue: row.venue,
    starts_at_ms: row.starts_at.getTime(),
    time_zone: row.time_zone,
    local_day: Number(row.local_date.replaceAll("-", "")),
    capacity: row.capacity,
    price: row.price,
    currency: row.currency,
    status: row.status,
    ...(row.sale_starts_at ? { sale_starts_at_ms: row.sale_starts_at.getTime() } : {}),
    ...(row.sale_ends_at ? { sale_ends_at_ms: row.sale_ends_at.getTime() } : {}),
  };
}

function hitOfDocument(doc: EventDocument): SearchHit {
  const day = String(doc.local_day);
  const instant = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    id: doc.id,
    name: doc.name,
    venue: doc.venue,
    startsAt: new Date(doc.starts_at_ms).toISOString(),
    timeZone: doc.time_zone,
    localDate: `${day.slice(0, -4)}-${day.slice(-4, -2)}-${day.slice(-2)}`,
    capacity: doc.capacity,
    price: doc.price,
    currency: doc.currency,
    status: doc.status,
    saleStartsAt: instant(doc.sale_starts_at_ms),
    saleEndsAt: instant(doc.sale_ends_at_ms),
  };
}

const dayNumber = (date: string) => Number(date.replaceAll("-", ""));

/**
 * Typesense pages by number, so the cursor's key is the next page number. Unlike the
 * PostgreSQL keyset, events added while someone pages can shift later pages.
 */
export function typesenseBackend(config: SearchConfig, client = typesenseClient(config)): SearchBackend {
  if (config.limitMax > TYPESENSE_PER_PAGE_MAX)
    throw new Error(`SEARCH_LIMIT_MAX must be at most ${TYPESENSE_PER_PAGE_MAX} with Typesense`);
  const documents = client.collections<EventDocument>(config.typesenseCollection).documents();
  return {
    name: "typesense",
    async page(query: SearchQuery) {
      const page = query.after ? Number(query.after.key) : 1;
      const filters = [
        query.startDate ? `local_day:>=${dayNumber(query.startDate)}` : null,
        query.endDate ? `local_day:<=${dayNumber(query.endDate)}` : null,
      ].filter((filter) => filter !== null);
      const answer = await documents.search({
        q: query.text ?? "*",
        query_by: "name,venue",
        query_by_weights: "2,1",
        num_typos: TYPOS_PER_WORD,
        prefix: true,
        ...(filters.length ? { filter_by: filters.join(" && ") } : {}),
        sort_by: query.text ? "_text_match:desc,starts_at_ms:asc" : "starts_at_ms:asc",
        page,
        per_page: query.limit,
      });
      const rows = (answer.hits ?? []).map((hit) => hitOfDocument(hit.document));
      const more = page * query.limit < answer.found && rows.length === query.limit;
      return { rows, next: more ? { key: String(page + 1), id: rows.at(-1)!.id, tier: null } : null };
    },
  };
}

/** Creates the collection unless it exists. */
export async function ensureCollection(client: Client, name: string): Promise<void> {
  if (await client.collections(name).exists()) return;
  await client.collections().create(collectionSchema(name));
}

/** Makes the event's document match PostgreSQL: upserted, or deleted when the event is gone. */
export async function syncEvent(
  pool: Pool,
  client: Client,
  collection: string,
  eventId: string,
): Promise<"upserted" | "deleted"> {
  const row = await eventSearchRow(pool, eventId);
  const documents = client.collections<EventDocument>(collection).documents();
  if (row !== null) {
    await documents.upsert(documentOf(row));
    return "upserted";
  }
  await documents.delete({ filter_by: `id:=${eventId}` });
  return "deleted";
}

/** Sends every event to Typesense in id order, `batch` at a time; returns how many were sent. */
export async function reindex(
  pool: Pool,
  client: Client,
  config: SearchConfig,
  onProgress: (done: number, total: number) => void,
): Promise<number> {
  await ensureCollection(client, config.typesenseCollection);
  const documents = client.collections<EventDocument>(config.typesenseCollection).documents();
  const total = await countEvents(pool);
  let done = 0;
  let afterId = "00000000-0000-0000-0000-000000000000";
  for (;;) {
    const rows = await eventSearchRowsAfter(pool, afterId, config.reindexBatch);
    if (rows.length === 0) return done;
    const results = await documents.import(rows.map(documentOf), { action: "upsert" });
    const failed = results.filter((result) => !result.success);
    if (failed.length > 0) throw new Error(`Typesense refused ${failed.length} documents, first: ${failed[0]!.error}`);
    done += rows.length;
    afterId = rows.at(-1)!.id;
    onProgress(done, Math.max(total, done));
  }
}
