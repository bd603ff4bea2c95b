import { parseSearchQuery } from "../../search/query.js";
import { SearchService, postgresBackend } from "../../search/service.js";
import { typesenseBackend } from "../../search/typesense.js";
import type { Reply, RouteSpec } from "../exchange.js";
import type { HttpDeps } from "../deps.js";

// GET /events?search=&start_date=&end_date=&limit=&cursor= → { data, nextCursor }.

export function searchRoutes(deps: HttpDeps): RouteSpec[] {
  const { config, engine, readPool } = deps;
  const backend = config.search.typesenseUrl
    ? typesenseBackend(config.search)
    : postgresBackend(readPool, config.search);
  const service = new SearchService(backend, engine.redis, config.search);
  return [
    {
      method: "get",
      pattern: "/events",
      name: "events.search",
      auth: "none",
      async handler({ query }): Promise<Reply> {
        return { status: 200, json: await service.search(parseSearchQuery(query, config.search)) };
      },
    },
  ];
}
