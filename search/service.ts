import { createHash } from "node:crypto";
import type { RedisClient } from "../engine/redis.js";
import type { SearchConfig } from "../engine/config.js";
import { searchCacheKey } from "../engine/keys.js";
import { metrics } from "../engine/metrics.js";
import type { Pool } from "../sql/db.js";
import { searchEvents, type SearchPage, type SearchRow } from "../sql/search.js";
import { encodeCursor, searchWords, type SearchQuery } from "./query.js";

// Answers GET /events from PostgreSQL, or from Typesense when TYPESENSE_URL is set, with
// hot answers cached in Redis for SEARCH_CACHE_MS (a new or changed event shows up in a
// cached search at most that late).

/** One event in a search answer. */
export interface SearchHit {
  id: string;
  name: string;
  venue: string;
  startsAt: string;
  timeZone: string;
  /** The event's calendar date where it happens: what start_date and end_date compare to. */
  localDate: string;
  capacity: number;
  price: number;
  currency: string;
  status: string;
  saleStartsAt: string | null;
  saleEndsAt: string | null;
}

export interface SearchAnswer {
  data: SearchHit[];
  nextCursor: string | null;
}

/** Where the matches come from; both keep to the same query and page semantics. */
export interface SearchBackend {
  readonly name: "postgres" | "typesense";
  page(query: SearchQuery): Promise<SearchPage<SearchHit>>;
}

function hitOfRow(row: SearchRow): SearchHit {
  return {
    id: row.id,
    name: row.name,
    venue: row.venue,
    startsAt: row.starts_at.toISOString(),
    timeZone: row.time_zone,
    localDate: row.local_date,
    capacity: row.capacity,
    price: row.price,
    currency: row.currency,
    status: row.status,
    saleStartsAt: row.sale_starts_at?.toISOString() ?? null,
    saleEndsAt: row.sale_ends_at?.toISOString() ?? null,
  };
}

export function postgresBackend(readPool: Pool, config: SearchConfig): SearchBackend {
  return {
    name: "postgres",
    async page(query) {
      const { rows, next } = await searchEvents(
        readPool,
        { ...query, words: searchWords(query.text ?? "") },
        config.wordSimilarityPct / 100,
      );
      return { rows: rows.map(hitOfRow), next };
    },
  };
}

export class SearchService {
  /** Searches being answered now, by cache key: a burst of one query (its cached answer just
   * expired) waits for one backend call instead of making one each. */
  private readonly inFlight = new Map<string, Promise<SearchAnswer>>();

  constructor(
    private readonly backend: SearchBackend,
    private readonly redis: RedisClient,
    private readonly config: SearchConfig,
  ) {}

  async search(query: SearchQuery): Promise<SearchAnswer> {
    const started = performance.now();
    const observe = (cache: "off" | "hit" | "miss" | "shared") =>
      metrics.searchSeconds.observe({ backend: this.backend.name, cache }, (performance.now() - started) / 1000);
    if (this.config.cacheMs === 0) {
      const answer = await this.answer(query);
      observe("off");
      return answer;
    }
    const key = searchCacheKey(`${this.backend.name}:${hashQuery(query)}`);
    const cached = await this.redis.get(key);
    if (cached !== null) {
      observe("hit");
      return JSON.parse(cached) as SearchAnswer;
    }
    const pending = this.inFlight.get(key);
    if (pending) {
      const answer = await pending;
      observe("shared");
      return answer;
    }
    const answering = this.answer(query)
      .then(async (answer) => {
        await this.redis.set(key, JSON.stringify(answer), "PX", this.config.cacheMs);
        return answer;
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, answering);
    const answer = await answering;
    observe("miss");
    return answer;
  }

  private async answer(query: SearchQuery): Promise<SearchAnswer> {
    const { rows, next } = await this.backend.page(query);
    return { data: rows, nextCursor: next && encodeCursor(query, next) };
  }
}

function hashQuery(query: SearchQuery): string {
  const parts = [
    query.text,
    query.startDate,
    query.endDate,
    query.limit,
    query.after?.key ?? null,
    query.after?.id ?? null,
    query.after?.tier ?? null,
  ];
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64url");
}
