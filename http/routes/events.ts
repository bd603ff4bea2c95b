import { timingSafeEqual } from "node:crypto";
import type { EventRecord, LiveEvent } from "../../engine/engine.js";
import { EngineError } from "../../engine/errors.js";
import { isUuid, uuidv7 } from "../../engine/ids.js";
import { queueMovedReminders } from "../../jobs/notify.js";
import { queueSearchSync } from "../../jobs/searchSync.js";
import { inTransaction } from "../../sql/db.js";
import { insertEvent, paidTickets, selectEvent, updateEvent, type EventChanges } from "../../sql/events.js";
import type { Reply, RouteSpec } from "../exchange.js";
import { problems } from "../problems.js";
import type { HttpDeps } from "../server.js";
import { Fields, parseJsonObject } from "../validate.js";

// POST /admin/events, PATCH /admin/events/:id, GET /events/:id.

const CURRENCY = /^[A-Za-z]{3}$/;
const STATUSES = ["on_sale", "closed"] as const;

function eventView(event: EventRecord, live: LiveEvent | null): Record<string, unknown> {
  return {
    id: event.id,
    name: event.name,
    venue: event.venue,
    startsAt: event.startsAt.toISOString(),
    timeZone: event.timeZone,
    capacity: event.capacity,
    price: event.price,
    currency: event.currency,
    maxPerUser: event.maxPerUser,
    saleStartsAt: event.saleStartsAt?.toISOString() ?? null,
    saleEndsAt: event.saleEndsAt?.toISOString() ?? null,
    status: event.status,
    powBits: event.powBits,
    holdSeconds: event.holdSeconds,
    instock: live?.instock ?? null,
  };
}

/** The event as Redis holds it, when every display field is cached there. */
function liveView(eventId: string, live: LiveEvent): Record<string, unknown> | null {
  const f = live.fields;
  if (f.name === undefined || f.venue === undefined || f.starts_at === undefined || f.time_zone === undefined) return null;
  const instant = (ms: string | undefined) => (ms && ms !== "0" ? new Date(Number(ms)).toISOString() : null);
  return {
    id: eventId,
    name: f.name,
    venue: f.venue,
    startsAt: f.starts_at,
    timeZone: f.time_zone,
    capacity: live.capacity,
    price: Number(f.price),
    currency: f.currency,
    maxPerUser: Number(f.max_per_user),
    saleStartsAt: instant(f.sale_starts_at),
    saleEndsAt: instant(f.sale_ends_at),
    status: f.status,
    powBits: Number(f.pow_bits ?? 0),
    holdSeconds: Number(f.hold_ms ?? 0) / 1000,
    instock: live.instock,
  };
}

export function eventIdParam(raw: string | undefined): string {
  if (raw === undefined || !isUuid(raw)) throw new EngineError("EVENT_NOT_FOUND", "");
  return raw;
}

/** Checks an Authorization header against `Bearer ADMIN_TOKEN` in constant time; 401 otherwise. */
export function adminGuard(token: string): (authorization: string) => void {
  const expected = Buffer.from(`Bearer ${token}`);
  return (authorization) => {
    const given = Buffer.from(authorization);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw problems.unauthorized();
  };
}

export function eventRoutes(deps: HttpDeps): RouteSpec[] {
  const { config, engine, pool, readPool, boss } = deps;
  const { limits } = config;
  const requireAdmin = adminGuard(config.adminToken);

  const readEventFields = (fields: Fields, required: boolean) => {
    const text = { required, maxChars: limits.textChars };
    return {
      name: fields.string("name", text),
      venue: fields.string("venue", text),
      startsAt: fields.instant("startsAt", { required }),
      timeZone: fields.timeZone("timeZone", { required }),
      capacity: fields.integer("capacity", { required, min: 1, max: limits.capacityMax }),
      maxPerUser: fields.integer("maxPerUser", { required, min: 1, max: limits.quantityMax }),
      saleStartsAt: fields.clearableInstant("saleStartsAt"),
      saleEndsAt: fields.clearableInstant("saleEndsAt"),
      status: fields.oneOf("status", STATUSES, { required: false }),
      powBits: fields.integer("powBits", { required: false, min: 0, max: limits.powBitsMax }),
      holdSeconds: fields.integer("holdSeconds", { required: false, min: 0, max: limits.holdSecondsMax }),
    };
  };

  return [
    {
      method: "post",
      pattern: "/admin/events",
      name: "admin.events.create",
      headers: ["authorization"],
      bodyLimit: limits.bodyBytes,
      async handler({ headers, body }): Promise<Reply> {
        requireAdmin(headers.authorization!);
        const fields = new Fields(parseJsonObject(body));
        const e = readEventFields(fields, true);
        const price = fields.integer("price", { required: true, min: 0, max: limits.priceMax });
        const currency = fields.string("currency", { required: true, maxChars: 3, pattern: CURRENCY, patternHint: "must be a three-letter ISO 4217 code" });
        if (e.saleStartsAt && e.saleEndsAt) fields.check(e.saleEndsAt > e.saleStartsAt, "saleEndsAt", "must be after saleStartsAt");
        fields.done();
        const id = uuidv7();
        const event = await insertEvent(pool, {
          id,
          name: e.name!,
          venue: e.venue!,
          startsAt: e.startsAt!,
          timeZone: e.timeZone!,
          capacity: e.capacity!,
          price: price!,
          currency: currency!.toLowerCase(),
          maxPerUser: e.maxPerUser!,
          saleStartsAt: e.saleStartsAt ?? null,
          saleEndsAt: e.saleEndsAt ?? null,
          status: e.status ?? "on_sale",
          powBits: e.powBits ?? 0,
          holdSeconds: e.holdSeconds ?? 0,
        }, (client) => queueSearchSync(boss, client, config.search, id));
        const live = await engine.loadEvent(event, 0);
        return { status: 201, json: eventView(event, live), headers: { Location: `/events/${event.id}` } };
      },
    },
    {
      method: "patch",
      pattern: "/admin/events/:id",
      name: "admin.events.update",
      headers: ["authorization"],
      bodyLimit: limits.bodyBytes,
      async handler({ headers, body, params }): Promise<Reply> {
        requireAdmin(headers.authorization!);
        const eventId = eventIdParam(params[0]);
        const fields = new Fields(parseJsonObject(body));
        const changes: EventChanges = readEventFields(fields, false);
        fields.done();
        // PostgreSQL and Redis change together: a capacity Redis refuses rolls the update back.
        const { event, live } = await inTransaction(pool, async (client) => {
          const before = await selectEvent(client, eventId);
          const event = await updateEvent(client, eventId, changes);
          if (before === null || event === null) throw new EngineError("EVENT_NOT_FOUND", "");
          await queueSearchSync(boss, client, config.search, eventId);
          await queueMovedReminders(boss, client, config, eventId, before.startsAt.getTime(), event.startsAt.getTime());
          const live = await engine.loadEvent(event, await paidTickets(client, eventId), { display: false });
          return { event, live };
        });
        // Write-around: the next read caches the new display fields from PostgreSQL.
        await engine.flushDisplay(eventId);
        return { status: 200, json: eventView(event, live) };
      },
    },
    {
      method: "get",
      pattern: "/events/:id",
      name: "events.get",
      async handler({ params }): Promise<Reply> {
        const eventId = eventIdParam(params[0]);
        const live = await engine.liveEvent(eventId);
        const cached = live && liveView(eventId, live);
        if (cached) return { status: 200, json: cached };
        const event = await selectEvent(readPool, eventId);
        if (event === null) throw new EngineError("EVENT_NOT_FOUND", "");
        if (live) await engine.cacheDisplay(event);
        return { status: 200, json: eventView(event, live) };
      },
    },
  ];
}
