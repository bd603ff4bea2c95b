import { Events } from "../../application/events.js";
import type { EventRecord, LiveEvent } from "../../engine/engine.js";
import type { Limits } from "../../engine/config.js";
import type { EventChanges, NewEvent } from "../../sql/events.js";
import type { Reply, RouteSpec } from "../exchange.js";
import { eventIdParam } from "../params.js";
import type { HttpDeps } from "../deps.js";
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
  if (f.name === undefined || f.venue === undefined || f.starts_at === undefined || f.time_zone === undefined)
    return null;
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

/** The fields POST and PATCH share; each is required on POST, optional on PATCH. */
function readEventFields(fields: Fields, required: boolean, limits: Limits) {
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
}

/** The new event of a POST /admin/events body, or 422 listing every problem. */
function readNewEvent(body: Buffer, limits: Limits): Omit<NewEvent, "id"> {
  const fields = new Fields(parseJsonObject(body));
  const e = readEventFields(fields, true, limits);
  const price = fields.integer("price", { required: true, min: 0, max: limits.priceMax });
  const currency = fields.string("currency", {
    required: true,
    maxChars: 3,
    pattern: CURRENCY,
    patternHint: "must be a three-letter ISO 4217 code",
  });
  if (e.saleStartsAt && e.saleEndsAt)
    fields.check(e.saleEndsAt > e.saleStartsAt, "saleEndsAt", "must be after saleStartsAt");
  fields.done();
  return {
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
  };
}

export function eventRoutes(deps: HttpDeps): RouteSpec[] {
  const { config, engine } = deps;
  const { limits } = config;
  const events = new Events(deps);

  return [
    {
      method: "post",
      pattern: "/admin/events",
      name: "admin.events.create",
      auth: "admin",
      bodyLimit: limits.bodyBytes,
      async handler({ body }): Promise<Reply> {
        const { event, live } = await events.create(readNewEvent(body, limits));
        return { status: 201, json: eventView(event, live), headers: { Location: `/events/${event.id}` } };
      },
    },
    {
      method: "patch",
      pattern: "/admin/events/:id",
      name: "admin.events.update",
      auth: "admin",
      bodyLimit: limits.bodyBytes,
      async handler({ body, params }): Promise<Reply> {
        const eventId = eventIdParam(params[0]);
        const fields = new Fields(parseJsonObject(body));
        const changes: EventChanges = readEventFields(fields, false, limits);
        fields.done();
        const { event, live } = await events.update(eventId, changes);
        return { status: 200, json: eventView(event, live) };
      },
    },
    {
      method: "get",
      pattern: "/events/:id",
      name: "events.get",
      auth: "none",
      async handler({ params }): Promise<Reply> {
        const eventId = eventIdParam(params[0]);
        const live = await engine.liveEvent(eventId);
        const cached = live && liveView(eventId, live);
        if (cached) return { status: 200, json: cached };
        const read = await events.read(eventId, live);
        return { status: 200, json: eventView(read.event, read.live) };
      },
    },
  ];
}
