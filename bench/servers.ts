import { createLogger } from "../engine/logger.js";
import type { RouteSpec } from "../http/exchange.js";
import { listen } from "../http/server.js";
import { createPool } from "../sql/db.js";
import { designRoutes } from "./postgres/design.js";
import { RIVALS, rivalPool, rivalRoutes, type Rival } from "./postgres/rivals.js";

// The bench's own HTTP servers, one process each, several sharing PORT (SO_REUSEPORT):
//   ceiling   POST /bookings reads the body and answers: the HTTP layer doing nothing
//   pgdesign  POST /bookings on the plain PostgreSQL design (bench/postgres)
//   rival <prepared | sharded | writer>  POST /bookings on a PostgreSQL rival (bench/postgres/rivals.ts),
//             SYNCHRONOUS_COMMIT on or off, PG_POOL_MAX connections, LINE_MAX people in line
// Both go through http/exchange.ts like the engine's routes, so only the storage differs.

const CEILING: RouteSpec[] = [
  {
    method: "post",
    pattern: "/bookings",
    name: "ceiling",
    auth: "none",
    headers: ["content-type"],
    bodyLimit: 16 * 1024,
    handler: () => ({ status: 201, json: { status: "held" } }),
  },
];

async function main(kind: string): Promise<void> {
  const port = Number(process.env.PORT);
  const log = createLogger(process.env.LOG_LEVEL ?? "warn", `bench-${kind}`);
  let routes: RouteSpec[];
  let pool: ReturnType<typeof createPool> | null = null;
  if (kind === "ceiling") routes = CEILING;
  else if (kind === "pgdesign") {
    pool = createPool(process.env.DATABASE_URL!, Number(process.env.PG_POOL_MAX ?? 10));
    routes = designRoutes(pool, Number(process.env.HOLD_SECONDS ?? 300));
  } else if (kind === "rival" && RIVALS.includes(process.argv[3] as Rival)) {
    pool = rivalPool(
      process.env.DATABASE_URL!,
      Number(process.env.PG_POOL_MAX),
      process.env.SYNCHRONOUS_COMMIT === "on" ? "on" : "off",
    );
    routes = rivalRoutes(
      process.argv[3] as Rival,
      pool,
      Number(process.env.HOLD_SECONDS),
      Number(process.env.LINE_MAX),
    );
  } else throw new Error(`usage: servers.ts <ceiling | pgdesign | rival <${RIVALS.join(" | ")}>>`);
  const server = await listen(routes, "127.0.0.1", port, log, { sharePort: true });
  process.stdout.write("listening\n");
  process.on("SIGTERM", () => {
    server.close();
    void pool?.end().finally(() => process.exit(0));
    if (pool === null) process.exit(0);
  });
}

main(process.argv[2] ?? "").catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
