import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { uuidv7 } from "../engine/ids.js";
import { insertGenerated, type GeneratedEvent } from "../search/generate.js";
import { reindex, syncEvent, typesenseClient } from "../search/typesense.js";
import { ADMIN_TOKEN, useTestEngine, waitFor } from "./helpers.js";

// The Typesense backend, against a real Typesense server: run with TYPESENSE_URL (and
// TYPESENSE_API_KEY) set, e.g. `docker run -p 8108:8108 typesense/typesense:27.1
// --data-dir /tmp --api-key=xyz`. Without it these tests are reported as skipped.

const TYPESENSE_URL = process.env.TYPESENSE_URL;
const collection = `events_test_${randomBytes(4).toString("hex")}`;
const word = () =>
  randomBytes(6)
    .toString("hex")
    .replace(/\d/g, (d) => "ghijklmnop"[Number(d)]!);

describe.skipIf(!TYPESENSE_URL)(
  "GET /events on Typesense (runs only with TYPESENSE_URL set: CI has no Typesense server)",
  () => {
    const context = useTestEngine(
      () => ({ TYPESENSE_URL: TYPESENSE_URL!, TYPESENSE_COLLECTION: collection, SEARCH_CACHE_MS: "0" }),
      { work: true },
    );
    const ids = async (params: Record<string, string>) =>
      (await context.client.request("GET", `/events?${new URLSearchParams(params)}`)).body.data.map(
        (hit: { id: string }) => hit.id,
      );
    afterAll(async () => {
      await typesenseClient(context.running.config.search)
        .collections(collection)
        .delete()
        .catch(() => undefined);
    });

    it("syncs a created event, then its change, through the search-sync job", async () => {
      const tag = word();
      const id = await context.client.eventId({ name: `Taylor Swift ${tag}`, venue: "Wembley Stadium" });
      await waitFor(
        () => ids({ search: `tayler swif ${tag}` }),
        (found) => found.includes(id),
        15_000,
        200,
      );
      const patched = await context.client.request("PATCH", `/admin/events/${id}`, {
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
        body: { name: `Beyoncé ${tag}` },
      });
      expect(patched.status).toBe(200);
      await waitFor(
        () => ids({ search: `beyonce ${tag}` }),
        (found) => found.includes(id),
        15_000,
        200,
      );
    });

    it("drops the document of an event that is gone", async () => {
      const tag = word();
      const id = await context.client.eventId({ name: `Gone ${tag}` });
      await waitFor(
        () => ids({ search: tag }),
        (found) => found.includes(id),
        15_000,
        200,
      );
      await context.running.pool.query("DELETE FROM relay_offsets WHERE event_id = $1", [id]);
      await context.running.pool.query("DELETE FROM events WHERE id = $1", [id]);
      const { config, pool } = context.running;
      expect(await syncEvent(pool, typesenseClient(config.search), collection, id)).toBe("deleted");
      expect(await ids({ search: tag })).toEqual([]);
    });

    it("reindexes from PostgreSQL, filters by local dates and pages without duplicates", async () => {
      const tag = word();
      const make = (localStart: string, timeZone: string): GeneratedEvent => ({
        id: uuidv7(),
        name: `Reindex ${tag}`,
        venue: timeZone,
        localStart,
        timeZone,
        capacity: 10,
        price: 100,
        currency: "usd",
        maxPerUser: 2,
      });
      const la = make("2031-03-10 23:30", "America/Los_Angeles");
      const tokyo = make("2031-03-10 23:30", "Asia/Tokyo");
      const more = Array.from({ length: 25 }, () => make("2031-04-01 20:00", "Europe/Paris"));
      await insertGenerated(context.running.pool, [la, tokyo, ...more]);
      const { config, pool } = context.running;
      const sent = await reindex(pool, typesenseClient(config.search), config.search, () => undefined);
      expect(sent).toBeGreaterThanOrEqual(27);
      expect(new Set(await ids({ search: tag, start_date: "2031-03-10", end_date: "2031-03-10" }))).toEqual(
        new Set([la.id, tokyo.id]),
      );
      expect(await ids({ search: tag, start_date: "2031-03-11", end_date: "2031-03-11" })).toEqual([]);

      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const params: Record<string, string> = { search: tag, limit: "4", ...(cursor ? { cursor } : {}) };
        const answer = await context.client.request("GET", `/events?${new URLSearchParams(params)}`);
        expect(answer.status).toBe(200);
        seen.push(...answer.body.data.map((hit: { id: string }) => hit.id));
        cursor = answer.body.nextCursor;
      } while (cursor !== null);
      expect(new Set(seen).size).toBe(seen.length);
      expect(new Set(seen)).toEqual(new Set([la.id, tokyo.id, ...more.map((event) => event.id)]));
    });
  },
);
