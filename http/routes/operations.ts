import { DISPLAY_FIELDS } from "../../engine/engine.js";
import { Operations } from "../../application/operations.js";
import { DeadLetters } from "../../application/deadLetters.js";
import type { Reply, RouteSpec } from "../exchange.js";
import { eventIdParam } from "../params.js";
import type { HttpDeps } from "../deps.js";
import { problems } from "../problems.js";

// Admin routes for the operator commands (Authorization: Bearer ADMIN_TOKEN):
//   POST   /admin/events/:id/cache     warm one event from PostgreSQL
//   DELETE /admin/events/:id/cache     drop its cached display fields (never inventory)
//   POST   /admin/cache/warm           warm every on-sale event
//   POST   /admin/reconcile            report drift per event; ?repair=1 repairs it
//   GET    /admin/relay/dead-letters   log entries the relay set aside, not yet replayed
//   POST   /admin/relay/replay         write them again; ?id=N only that one

/** A dead letter's id from ?id=, or null for all of them. */
function deadLetterIdParam(raw: string | null): number | null {
  if (raw === null) return null;
  if (!/^[1-9]\d{0,15}$/.test(raw))
    throw problems.invalidQuery([{ field: "id", reason: "a dead letter id (a positive integer)" }]);
  return Number(raw);
}

export function operationRoutes(deps: HttpDeps): RouteSpec[] {
  const { engine, pool, log, config, boss } = deps;
  const ops = new Operations(pool, engine, log);
  const deadLetters = new DeadLetters({ pool, redis: engine.redis, config, boss, log });

  /** An admin route on one event that PostgreSQL has (404 otherwise). */
  const onEvent = (
    method: RouteSpec["method"],
    name: string,
    act: (eventId: string) => Promise<object>,
  ): RouteSpec => ({
    method,
    pattern: "/admin/events/:id/cache",
    name,
    auth: "admin",
    async handler({ params }): Promise<Reply> {
      const [eventId] = await ops.targets(eventIdParam(params[0]));
      return { status: 200, json: await act(eventId!) };
    },
  });

  return [
    onEvent("post", "admin.cache.warm", (eventId) => ops.warm(eventId)),
    onEvent("del", "admin.cache.flush", async (eventId) => {
      await ops.flush(eventId);
      return { eventId, flushed: DISPLAY_FIELDS };
    }),
    {
      method: "post",
      pattern: "/admin/cache/warm",
      name: "admin.cache.warmAll",
      auth: "admin",
      async handler(): Promise<Reply> {
        return { status: 200, json: { data: await ops.warmAll(await ops.targets(null)) } };
      },
    },
    {
      method: "post",
      pattern: "/admin/reconcile",
      name: "admin.reconcile",
      auth: "admin",
      async handler({ query }): Promise<Reply> {
        const repair = query.get("repair") === "1";
        const results = await ops.reconcileAll(await ops.targets(null), repair);
        return {
          status: 200,
          json: { repair, data: results.filter((r) => r.drift.length > 0), checked: results.length },
        };
      },
    },
    {
      method: "get",
      pattern: "/admin/relay/dead-letters",
      name: "admin.relay.deadLetters",
      auth: "admin",
      async handler(): Promise<Reply> {
        return { status: 200, json: { data: await deadLetters.open() } };
      },
    },
    {
      method: "post",
      pattern: "/admin/relay/replay",
      name: "admin.relay.replay",
      auth: "admin",
      async handler({ query }): Promise<Reply> {
        return { status: 200, json: await deadLetters.replay(deadLetterIdParam(query.get("id"))) };
      },
    },
  ];
}
