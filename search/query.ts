import { createHash } from "node:crypto";
import type { SearchConfig } from "../engine/config.js";
import { isUuid } from "../engine/ids.js";
import { hasUnsafeChars, UNSAFE_TEXT_REASON } from "../engine/text.js";
import type { PageStart, SearchTier } from "../sql/search.js";

// GET /events query parameters → a checked SearchQuery, and the opaque page cursor.
// Every problem with the parameters is collected and thrown at once, as a SearchQueryError.

interface ParameterError {
  field: string;
  reason: string;
}

/** The query parameters are not a search; the HTTP layer answers 400 listing every error. */
export class SearchQueryError extends Error {
  constructor(readonly errors: ParameterError[]) {
    super(errors.map((e) => `${e.field}: ${e.reason}`).join("; "));
    this.name = "SearchQueryError";
  }
}

export interface SearchQuery {
  /** The words as typed, trimmed; null lists events by start time. */
  text: string | null;
  /** Calendar dates (YYYY-MM-DD) compared with each event's date in its own time zone, inclusive. */
  startDate: string | null;
  endDate: string | null;
  limit: number;
  after: Cursor | null;
}

/** Text searches match exactly (every word a prefix) when they can, else fuzzily (trigrams). */
type Tier = SearchTier;
const TIERS: readonly (Tier | null)[] = ["exact", "fuzzy", null];

/** Where the previous page ended: its last sort key and id (ties are broken by id). */
export type Cursor = PageStart;

const PARAMETERS = ["search", "start_date", "end_date", "limit", "cursor"] as const;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const CURSOR_CHARS = 200;
const SORT_KEY = /^-?\d{1,18}$/;
/** Words of letters and digits in any script; everything else separates words. */
const WORD = /[\p{L}\p{N}]+/gu;

/** The words of a search text, as the full-text query uses them. */
export function searchWords(text: string): string[] {
  return text.normalize("NFC").match(WORD) ?? [];
}

function calendarDate(raw: string): boolean {
  const match = DATE.exec(raw);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return year >= 1 && date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** Names the filters a cursor belongs to, so a cursor cannot page through another search. */
function fingerprint(text: string | null, startDate: string | null, endDate: string | null): string {
  return createHash("sha256")
    .update(JSON.stringify([text, startDate, endDate]))
    .digest("base64url")
    .slice(0, 12);
}

export function encodeCursor(query: SearchQuery, after: Cursor): string {
  const payload = {
    k: after.key,
    i: after.id,
    t: after.tier,
    f: fingerprint(query.text, query.startDate, query.endDate),
  };
  return Buffer.from(JSON.stringify(payload)).toString("base64url");
}

function decodeCursor(raw: string, filters: string): Cursor | null {
  if (raw.length > CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(raw)) return null;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    return null;
  }
  const { k, i, t, f } = (payload ?? {}) as Record<string, unknown>;
  if (typeof k !== "string" || !SORT_KEY.test(k) || typeof i !== "string" || !isUuid(i) || f !== filters) return null;
  if (!TIERS.includes(t as Tier | null)) return null;
  return { key: k, id: i, tier: t as Tier | null };
}

export function parseSearchQuery(params: URLSearchParams, limits: SearchConfig): SearchQuery {
  const errors: ParameterError[] = [];
  const fail = (field: string, reason: string) => {
    errors.push({ field, reason });
    return null;
  };
  for (const name of new Set(params.keys())) {
    if (!(PARAMETERS as readonly string[]).includes(name))
      fail(name, `is not a known parameter (known: ${PARAMETERS.join(", ")})`);
    else if (params.getAll(name).length > 1) fail(name, "is given more than once");
    else if (hasUnsafeChars(params.get(name)!)) fail(name, UNSAFE_TEXT_REASON);
  }
  const given = (name: (typeof PARAMETERS)[number]): string | null => {
    const value = params.get(name);
    return value === null || value.trim() === "" || hasUnsafeChars(value) ? null : value.trim();
  };

  let text = given("search");
  if (text !== null && text.length > limits.textChars)
    text = fail("search", `must be at most ${limits.textChars} characters`);
  else if (text !== null && searchWords(text).length === 0) text = fail("search", "must contain a letter or digit");

  const date = (name: "start_date" | "end_date"): string | null => {
    const raw = given(name);
    if (raw === null || calendarDate(raw)) return raw;
    return fail(name, "must be a calendar date YYYY-MM-DD, e.g. 2027-03-10");
  };
  const startDate = date("start_date");
  const endDate = date("end_date");
  if (startDate !== null && endDate !== null && endDate < startDate) fail("end_date", "must not be before start_date");

  let limit = limits.limitDefault;
  const rawLimit = given("limit");
  if (rawLimit !== null) {
    const value = /^\d{1,9}$/.test(rawLimit) ? Number(rawLimit) : NaN;
    if (!(value >= 1 && value <= limits.limitMax))
      fail("limit", `must be a whole number from 1 to ${limits.limitMax} (SEARCH_LIMIT_MAX)`);
    else limit = value;
  }

  let after: Cursor | null = null;
  const rawCursor = given("cursor");
  if (rawCursor !== null) {
    after = decodeCursor(rawCursor, fingerprint(text, startDate, endDate));
    if (after === null) fail("cursor", "is not a cursor from a previous page of this same search");
  }

  if (errors.length > 0) throw new SearchQueryError(errors);
  return { text, startDate, endDate, limit: Math.min(limit, limits.limitMax), after };
}
