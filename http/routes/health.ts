import { registry } from "../../engine/metrics.js";
import type { Reply, RouteSpec } from "../exchange.js";
import type { HttpDeps } from "../deps.js";

// GET /healthz answers 200 only when Redis and PostgreSQL both answer; GET /metrics is
// Prometheus text, on PORT with the other routes or, with METRICS_PORT, on its own listener.

export function healthRoutes(deps: HttpDeps): RouteSpec[] {
  const { engine, pool } = deps;
  const probe = (check: () => Promise<unknown>) =>
    check().then(
      () => "ok",
      (error: Error) => `failing: ${error.message}`,
    );
  return [
    {
      method: "get",
      pattern: "/healthz",
      name: "healthz",
      auth: "none",
      async handler(): Promise<Reply> {
        const [redis, postgres] = await Promise.all([
          probe(() => engine.redis.ping()),
          probe(() => pool.query("SELECT 1")),
        ]);
        const ok = redis === "ok" && postgres === "ok";
        return { status: ok ? 200 : 503, json: { status: ok ? "ok" : "degraded", redis, postgres } };
      },
    },
  ];
}

export function metricsRoutes(): RouteSpec[] {
  return [
    {
      method: "get",
      pattern: "/metrics",
      name: "metrics",
      auth: "none",
      async handler(): Promise<Reply> {
        return { status: 200, text: await registry.metrics(), contentType: registry.contentType };
      },
    },
  ];
}
