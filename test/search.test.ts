import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { inject } from "vitest";
import { uuidv7 } from "../engine/ids.js";
import { insertGenerated, seededRandom, type GeneratedEvent } from "../search/generate.js";
import { createPool } from "../sql/db.js";
import { ensureDatabase, migrate } from "../sql/migrate.js";
import { type Api, api, startTestEngine, useTestEngine, waitFor } from "./helpers.js";

// GET /events: typo tolerance, unaccented full-text, dates in each event's own time zone,
// keyset pages without duplicates or gaps over tied scores, the Redis cache, the read
// replica, and bad parameters answered 400. Tests share the database with other files, so
// each test's events carry a random word and a date window of their own.

const context = useTestEngine({ SEARCH_CACHE_MS: "0" });

const random = seededRandom(Date.now() % 2 ** 31);
/** A random word of letters only, unlike any name other tests create. */
const token = () => Array.from({ length: 10 }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join("");
/** A random far-future day, "YYYY-MM-DD", whose window no other test run shares. */
function farDay(): string {
  const year = 2100 + Math.floor(random() * 800);
  return `${year}-0${1 + Math.floor(random() * 9)}-1${Math.floor(random() * 9)}`;
}

function catalogEvent(fields: Partial<GeneratedEvent> & Pick<GeneratedEvent, "name" | "localStart">): GeneratedEvent {
  return {
    id: uuidv7(),
    venue: "Test Hall",
    timeZone: "Europe/Paris",
    capacity: 100,
    price: 1000,
    currency: "eur",
    maxPerUser: 4,
    ...fields,
  };
}

async function search(client: Api, params: Record<string, string | number>) {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  return client.request("GET", `/events?${query}`);
}

/** Follows nextCursor to the end; returns every page's ids in order. */
async function allPages(client: Api, params: Record<string, string | number>): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | null = null;
  do {
    const answer = await search(client, cursor ? { ...params, cursor } : params);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    pages.push(answer.body.data.map((hit: { id: string }) => hit.id));
    cursor = answer.body.nextCursor;
    expect(pages.length).toBeLessThan(1000);
  } while (cursor !== null);
  return pages;
}

describe("GET /events relevance", () => {
  it("finds names and venues despite typos, accents, case and partial words", async () => {
    const day = farDay();
    const on = { start_date: day, end_date: day };
    const localStart = `${day} 20:00`;
    const taylor = catalogEvent({ name: "Taylor Swift | The Eras Tour", venue: "Wembley Stadium, London", localStart });
    const beyonce = catalogEvent({ name: "Beyoncé – Renaissance", venue: "Café de la Danse, Paris", localStart });
    const utada = catalogEvent({ name: "宇多田ヒカル Live", venue: "東京ドーム", localStart, timeZone: "Asia/Tokyo" });
    const metallica = catalogEvent({ name: "Metallica – M72", venue: "Stade de France", localStart });
    await insertGenerated(context.running.pool, [taylor, beyonce, utada, metallica]);
    const ids = async (text: string) =>
      (await search(context.client, { search: text, ...on })).body.data.map((hit: { id: string }) => hit.id);

    expect(await ids("tayler swif")).toEqual([taylor.id]);
    expect(await ids("Taylor Swift")).toEqual([taylor.id]);
    expect(await ids("tay")).toEqual([taylor.id]);
    expect(await ids("wembly")).toEqual([taylor.id]);
    expect(await ids("beyonce")).toEqual([beyonce.id]);
    expect(await ids("BEYONCÉ renaissance")).toEqual([beyonce.id]);
    expect(await ids("cafe danse")).toEqual([beyonce.id]);
    expect(await ids("東京ドーム")).toEqual([utada.id]);
    expect(await ids("metalica")).toEqual([metallica.id]);
    expect(await ids("zzyzx quorble")).toEqual([]);
  });

  it("answers in the contract's shape", async () => {
    const word = token();
    const day = farDay();
    const event = catalogEvent({
      name: `Shape ${word}`,
      venue: "Olympiastadion, Berlin",
      localStart: `${day} 19:30`,
      timeZone: "Europe/Berlin",
    });
    await insertGenerated(context.running.pool, [event]);
    const answer = await search(context.client, { search: word });
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe("application/json");
    expect(answer.body).toEqual({
      data: [
        {
          id: event.id,
          name: event.name,
          venue: event.venue,
          startsAt: expect.stringMatching(/Z$/),
          timeZone: "Europe/Berlin",
          localDate: day,
          capacity: 100,
          price: 1000,
          currency: "eur",
          status: "on_sale",
          saleStartsAt: null,
          saleEndsAt: null,
        },
      ],
      nextCursor: null,
    });
    expect(new Date(answer.body.data[0].startsAt).toLocaleString("sv", { timeZone: "Europe/Berlin" })).toBe(
      `${day} 19:30:00`,
    );
  });
});

describe("GET /events date filters use each event's own calendar date", () => {
  it("keeps 23:30 in Los Angeles and 23:30 in Tokyo on the same local day", async () => {
    const word = token();
    const create = async (timeZone: string, startsAt: string) =>
      context.client.eventId({ name: `Late show ${word}`, venue: timeZone, timeZone, startsAt });
    // 2031-03-10 23:30 in Los Angeles is 2031-03-11 07:30 UTC; in Tokyo it is 2031-03-10 14:30 UTC.
    const la = await create("America/Los_Angeles", "2031-03-10T23:30:00-07:00");
    const tokyo = await create("Asia/Tokyo", "2031-03-10T23:30:00+09:00");
    // 00:30 on the 11th in Kiritimati (UTC+14) is still the 10th in UTC.
    const kiritimati = await create("Pacific/Kiritimati", "2031-03-11T00:30:00+14:00");
    const ids = async (params: Record<string, string>) =>
      new Set(
        (await search(context.client, { search: word, ...params })).body.data.map((hit: { id: string }) => hit.id),
      );

    expect(await ids({ start_date: "2031-03-10", end_date: "2031-03-10" })).toEqual(new Set([la, tokyo]));
    expect(await ids({ start_date: "2031-03-11", end_date: "2031-03-11" })).toEqual(new Set([kiritimati]));
    expect(await ids({ start_date: "2031-03-11" })).toEqual(new Set([kiritimati]));
    expect(await ids({ end_date: "2031-03-10" })).toEqual(new Set([la, tokyo]));
    expect(await ids({ start_date: "2031-03-09", end_date: "2031-03-12" })).toEqual(new Set([la, tokyo, kiritimati]));
    expect(await ids({ end_date: "2031-03-09" })).toEqual(new Set());
    const hits = (await search(context.client, { search: word })).body.data;
    expect(
      Object.fromEntries(hits.map((hit: { timeZone: string; localDate: string }) => [hit.timeZone, hit.localDate])),
    ).toEqual({
      "America/Los_Angeles": "2031-03-10",
      "Asia/Tokyo": "2031-03-10",
      "Pacific/Kiritimati": "2031-03-11",
    });
  });

  it("follows a PATCH that moves the event to another day and time zone", async () => {
    const word = token();
    const id = await context.client.eventId({
      name: `Moved ${word}`,
      timeZone: "Europe/Paris",
      startsAt: "2032-05-01T21:00:00+02:00",
    });
    const patched = await context.client.request("PATCH", `/admin/events/${id}`, {
      headers: { Authorization: "Bearer test-admin-token" },
      body: { timeZone: "America/New_York", startsAt: "2032-05-01T23:30:00-04:00" },
    });
    expect(patched.status).toBe(200);
    const on = async (day: string) =>
      (await search(context.client, { search: word, start_date: day, end_date: day })).body.data.length;
    expect(await on("2032-05-01")).toBe(1);
    expect(await on("2032-05-02")).toBe(0);
  });
});

describe("GET /events pages", () => {
  it("pages through many tied results without duplicates or gaps, whatever the page size, even as events are added", async () => {
    const word = token();
    const day = farDay();
    // Three score levels (name and venue variants), many ties at each, all at the same instant.
    const events: GeneratedEvent[] = [];
    for (let i = 0; i < 240; i++) {
      const name = i % 3 === 0 ? `Tiebreak ${word}` : `Tiebreak ${word} Gala Night`;
      events.push(
        catalogEvent({ name, venue: i % 2 === 0 ? `${word} Arena` : "Elsewhere", localStart: `${day} 20:00` }),
      );
    }
    await insertGenerated(context.running.pool, events);
    const everyId = new Set(events.map((event) => event.id));
    const reference = (await allPages(context.client, { search: word, limit: 100 })).flat();
    expect(new Set(reference)).toEqual(everyId);
    // One letter wrong: no exact match, so the trigram tier answers, with its own scores.
    const typo = `${word.slice(0, 4)}${word[4] === "q" ? "x" : "q"}${word.slice(5)}`;
    const fuzzyReference = (await allPages(context.client, { search: typo, limit: 100 })).flat();
    expect(new Set(fuzzyReference)).toEqual(everyId);
    const listing = (await allPages(context.client, { start_date: day, end_date: day, limit: 100 })).flat();
    expect(new Set(listing)).toEqual(everyId);

    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 3, max: 70 }),
        fc.constantFrom("exact", "fuzzy", "listing"),
        fc.integer({ min: 0, max: 3 }),
        async (limit, mode, addedDuringPaging) => {
          const params: Record<string, string | number> =
            mode === "listing"
              ? { start_date: day, end_date: day, limit }
              : { search: mode === "exact" ? word : typo, limit };
          const pages: string[][] = [];
          let cursor: string | null = null;
          const added: GeneratedEvent[] = [];
          do {
            const answer = await search(context.client, cursor ? { ...params, cursor } : params);
            expect(answer.status).toBe(200);
            pages.push(answer.body.data.map((hit: { id: string }) => hit.id));
            expect(pages.at(-1)!.length).toBeLessThanOrEqual(limit);
            cursor = answer.body.nextCursor;
            if (pages.length === 1 && addedDuringPaging > 0) {
              // Events that appear mid-way must not shift the pages: nothing repeats, nothing is skipped.
              const more = Array.from({ length: addedDuringPaging }, () =>
                catalogEvent({ name: `Zzlate ${token()}`, localStart: `${day} 20:00` }),
              );
              await insertGenerated(context.running.pool, more);
              added.push(...more);
            }
          } while (cursor !== null);
          const seen = pages.flat();
          expect(new Set(seen).size).toBe(seen.length);
          if (mode !== "listing") {
            expect(seen).toEqual(mode === "exact" ? reference : fuzzyReference);
          } else {
            for (const id of listing) expect(seen).toContain(id);
            listing.push(...added.map((event) => event.id).filter((id) => seen.includes(id)));
          }
          expect(pages.slice(0, -1).every((page) => page.length === limit)).toBe(true);
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe("GET /events with bad parameters", () => {
  const CASES: [string, string, string][] = [
    ["a date that does not parse", "start_date=next-week", "start_date"],
    ["a date that does not exist", "end_date=2027-02-30", "end_date"],
    ["a date-time instead of a date", "start_date=2027-03-10T00:00:00Z", "start_date"],
    ["an end before the start", "start_date=2027-03-10&end_date=2027-03-09", "end_date"],
    ["limit 0", "limit=0", "limit"],
    ["limit 10^6", "limit=1000000", "limit"],
    ["limit one above SEARCH_LIMIT_MAX", "limit=101", "limit"],
    ["a negative limit", "limit=-5", "limit"],
    ["a fractional limit", "limit=2.5", "limit"],
    ["a cursor that is not one", "cursor=not-a-cursor", "cursor"],
    ["a cursor of valid base64 but no cursor", `cursor=${Buffer.from('{"k":"1"}').toString("base64url")}`, "cursor"],
    ["search with no letter or digit", "search=%21%21%21", "search"],
    ["search over the length limit", `search=${"a".repeat(201)}`, "search"],
    ["an unknown parameter", "q=taylor", "q"],
    ["a parameter given twice", "limit=5&limit=6", "limit"],
  ];
  for (const [name, query, field] of CASES) {
    it(`answers 400 to ${name}`, async () => {
      const answer = await context.client.request("GET", `/events?${query}`);
      expect(answer.status).toBe(400);
      expect(answer.contentType).toBe("application/problem+json");
      expect(answer.body.type).toBe("/problems/invalid-query");
      expect(answer.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      expect(answer.body.detail).toContain(field);
    });
  }

  it("refuses a cursor from another search", async () => {
    const word = token();
    const day = farDay();
    await insertGenerated(
      context.running.pool,
      [1, 2, 3].map(() => catalogEvent({ name: `Cursor ${word}`, localStart: `${day} 20:00` })),
    );
    const first = await search(context.client, { search: word, limit: 1 });
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const other = await search(context.client, { search: `${word} x`, limit: 1, cursor: first.body.nextCursor });
    expect(other.status).toBe(400);
    const sameText = await search(context.client, {
      search: word,
      limit: 1,
      start_date: day,
      cursor: first.body.nextCursor,
    });
    expect(sameText.status).toBe(400);
    const right = await search(context.client, { search: word, limit: 1, cursor: first.body.nextCursor });
    expect(right.status).toBe(200);
  });
});

describe("GET /events cache and read replica", () => {
  it("serves a repeated search from Redis for SEARCH_CACHE_MS, then sees new events", async () => {
    const running = await startTestEngine({ SEARCH_CACHE_MS: "1500" });
    try {
      const client = api(running);
      const word = token();
      const day = farDay();
      await insertGenerated(running.pool, [catalogEvent({ name: `Cached ${word}`, localStart: `${day} 20:00` })]);
      expect((await search(client, { search: word })).body.data).toHaveLength(1);
      await insertGenerated(running.pool, [catalogEvent({ name: `Cached ${word}`, localStart: `${day} 21:00` })]);
      expect((await search(client, { search: word })).body.data).toHaveLength(1);
      await waitFor(
        async () => (await search(client, { search: word })).body.data.length,
        (n) => n === 2,
        10_000,
        200,
      );

      // A burst of one new search: one backend call answers it, the rest wait for that call.
      const counts = async () => {
        const text = (await client.request("GET", "/metrics")).body as string;
        const count = (cache: string) =>
          Number(
            new RegExp(`onsale_search_seconds_count\\{backend="postgres",cache="${cache}"\\} (\\d+)`).exec(text)?.[1] ??
              0,
          );
        return { miss: count("miss"), hitOrShared: count("hit") + count("shared") };
      };
      const before = await counts();
      const burst = await Promise.all(Array.from({ length: 20 }, () => search(client, { search: word, limit: 7 })));
      expect(new Set(burst.map((answer) => JSON.stringify(answer.body))).size).toBe(1);
      const after = await counts();
      expect(after.miss - before.miss).toBeGreaterThanOrEqual(1);
      expect(after.miss - before.miss).toBeLessThanOrEqual(2);
      expect(after.miss - before.miss + after.hitOrShared - before.hitOrShared).toBe(20);
    } finally {
      await running.stop();
    }
  });

  it("reads from DATABASE_READ_URL when it is set", async () => {
    const replicaUrl = new URL(inject("databaseUrl"));
    replicaUrl.pathname = `${replicaUrl.pathname}_replica`;
    await ensureDatabase(replicaUrl.toString());
    const replica = createPool(replicaUrl.toString(), 1);
    try {
      await migrate(replica);
      const running = await startTestEngine({ DATABASE_READ_URL: replicaUrl.toString(), SEARCH_CACHE_MS: "0" });
      try {
        const word = token();
        const day = farDay();
        const onReplica = catalogEvent({ name: `Replica ${word}`, localStart: `${day} 20:00` });
        await insertGenerated(replica, [onReplica]);
        await insertGenerated(running.pool, [catalogEvent({ name: `Replica ${word}`, localStart: `${day} 20:00` })]);
        const answer = await search(api(running), { search: word });
        expect(answer.body.data.map((hit: { id: string }) => hit.id)).toEqual([onReplica.id]);
      } finally {
        await running.stop();
      }
    } finally {
      await replica.end();
    }
  });
});
