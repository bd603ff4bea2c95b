import { describe, expect, it } from "vitest";
import type { SearchConfig } from "../../engine/config.js";
import { uuidv7 } from "../../engine/ids.js";
import { type Cursor, encodeCursor, parseSearchQuery, type SearchQuery, SearchQueryError } from "../../search/query.js";

// GET /events query parameters: what a search accepts, every error listed at once, and a page
// cursor that only pages the search it came from.

const LIMITS = { limitDefault: 20, limitMax: 50, textChars: 10 } as SearchConfig;

const parse = (query: string): SearchQuery => parseSearchQuery(new URLSearchParams(query), LIMITS);

/** The errors a query string is refused with, or [] when it is accepted. */
function errorsOf(query: string): { field: string; reason: string }[] {
  try {
    parse(query);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(SearchQueryError);
    const refused = error as SearchQueryError;
    expect(refused.name).toBe("SearchQueryError");
    expect(refused.message).toBe(refused.errors.map((e) => `${e.field}: ${e.reason}`).join("; "));
    return refused.errors;
  }
}

const CURSOR_REFUSED = [{ field: "cursor", reason: "is not a cursor from a previous page of this same search" }];

describe("parseSearchQuery", () => {
  it("lists by start time with the default page when given nothing", () => {
    expect(parse("")).toEqual({ text: null, startDate: null, endDate: null, limit: 20, after: null });
    expect(parse("search=%20%20&limit=")).toEqual({
      text: null,
      startDate: null,
      endDate: null,
      limit: 20,
      after: null,
    });
  });

  it("reads the text trimmed, the dates and the limit, both ends of each bound included", () => {
    expect(parse("search=%20Jazz%20&start_date=2027-03-10&end_date=2027-03-10&limit=50")).toEqual({
      text: "Jazz",
      startDate: "2027-03-10",
      endDate: "2027-03-10",
      limit: 50,
      after: null,
    });
    expect(parse("search=0123456789&limit=1")).toMatchObject({ text: "0123456789", limit: 1 });
  });

  it.each([
    ["search=01234567890", "search", "must be at most 10 characters"],
    ["search=!!!", "search", "must contain a letter or digit"],
    ["limit=0", "limit", "must be a whole number from 1 to 50 (SEARCH_LIMIT_MAX)"],
    ["limit=51", "limit", "must be a whole number from 1 to 50 (SEARCH_LIMIT_MAX)"],
    ["limit=1.5", "limit", "must be a whole number from 1 to 50 (SEARCH_LIMIT_MAX)"],
    ["limit=x5", "limit", "must be a whole number from 1 to 50 (SEARCH_LIMIT_MAX)"],
    ["limit=5x", "limit", "must be a whole number from 1 to 50 (SEARCH_LIMIT_MAX)"],
    ["start_date=2027-02-29", "start_date", "must be a calendar date YYYY-MM-DD, e.g. 2027-03-10"],
    ["start_date=2027-13-01", "start_date", "must be a calendar date YYYY-MM-DD, e.g. 2027-03-10"],
    ["start_date=0000-01-01", "start_date", "must be a calendar date YYYY-MM-DD, e.g. 2027-03-10"],
    ["end_date=2027-3-10", "end_date", "must be a calendar date YYYY-MM-DD, e.g. 2027-03-10"],
    ["end_date=x2027-03-10", "end_date", "must be a calendar date YYYY-MM-DD, e.g. 2027-03-10"],
    ["end_date=2027-03-10x", "end_date", "must be a calendar date YYYY-MM-DD, e.g. 2027-03-10"],
    ["end_date=2027-03-1a", "end_date", "must be a calendar date YYYY-MM-DD, e.g. 2027-03-10"],
    ["start_date=2027-03-11&end_date=2027-03-10", "end_date", "must not be before start_date"],
    ["page=2", "page", "is not a known parameter (known: search, start_date, end_date, limit, cursor)"],
    ["limit=5&limit=6", "limit", "is given more than once"],
    ["search=a%00b", "search", "must not contain control characters or unpaired surrogates"],
  ])("refuses %s", (query, field, reason) => {
    expect(errorsOf(query)).toEqual([{ field, reason }]);
  });

  it("accepts a leap day and lists every error at once", () => {
    expect(parse("start_date=2028-02-29").startDate).toBe("2028-02-29");
    expect(errorsOf("search=!!!&limit=0&colour=red").map((e) => e.field)).toEqual(["colour", "search", "limit"]);
  });
});

// Built in each test, not in the describe body: a throw there would go unreported per test.
describe("page cursors", () => {
  const query = () => parse("search=Jazz");
  const after: Cursor = { key: "-1234567", id: uuidv7(), tier: "fuzzy" };
  const withCursor = (search: string, cursor: string) => parse(`${search}&cursor=${cursor}`);
  const forge = (payload: unknown) => Buffer.from(JSON.stringify(payload)).toString("base64url");

  it("page the search they came from, with its sort key, id and tier", () => {
    expect(withCursor("search=Jazz", encodeCursor(query(), after)).after).toEqual(after);
    for (const tier of ["exact", null] as const) {
      expect(withCursor("search=Jazz", encodeCursor(query(), { ...after, tier })).after).toEqual({ ...after, tier });
    }
    const listing = parse("start_date=2027-03-10");
    const onDate = { ...after, key: "1".repeat(18), tier: null };
    expect(withCursor("start_date=2027-03-10", encodeCursor(listing, onDate)).after).toEqual(onDate);
  });

  it("are refused for another search, or when not made by encodeCursor", () => {
    const cursor = encodeCursor(query(), after);
    expect(errorsOf(`search=Blues&cursor=${cursor}`)).toEqual(CURSOR_REFUSED);
    expect(errorsOf(`search=Jazz&start_date=2027-03-10&cursor=${cursor}`)).toEqual(CURSOR_REFUSED);
    const filters = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")).f as string;
    const valid = { k: after.key, i: after.id, t: after.tier, f: filters };
    expect(withCursor("search=Jazz", forge(valid)).after).toEqual(after);
    // At most 200 characters of base64url, nothing around them, even what would decode.
    const padded = (chars: number) => {
      let pad = "";
      while (forge({ ...valid, pad }).length < chars) pad += "x";
      return forge({ ...valid, pad });
    };
    expect(padded(200)).toHaveLength(200);
    expect(withCursor("search=Jazz", padded(200)).after).toEqual(after);
    expect(errorsOf(`search=Jazz&cursor=${padded(201)}`)).toEqual(CURSOR_REFUSED);
    expect(errorsOf(`search=Jazz&cursor=!${forge(valid)}`)).toEqual(CURSOR_REFUSED);
    expect(errorsOf(`search=Jazz&cursor=${forge(valid)}!`)).toEqual(CURSOR_REFUSED);
    for (const bad of [
      { ...valid, k: 5 },
      { ...valid, k: "1".repeat(19) },
      { ...valid, k: "x1" },
      { ...valid, k: "1x" },
      { ...valid, k: "--1" },
      { ...valid, i: "not-a-uuid" },
      { ...valid, i: 7 },
      { ...valid, t: "best" },
      { ...valid, t: "" },
    ]) {
      expect(errorsOf(`search=Jazz&cursor=${forge(bad)}`), JSON.stringify(bad)).toEqual(CURSOR_REFUSED);
    }
    for (const raw of [forge(null), "e30", "not+base64", "%7B", "A".repeat(201), forge(valid).slice(0, -3)]) {
      expect(errorsOf(`search=Jazz&cursor=${encodeURIComponent(raw)}`), raw).toEqual(CURSOR_REFUSED);
    }
  });
});
