import pg from "pg";

// int8 (bigint) columns hold money and sequence numbers that fit in a double; read them as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** Either a pool or one checked-out client, for queries that may run inside a transaction. */
export type Queryable = pg.Pool | pg.PoolClient;

export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, idleTimeoutMillis: 10_000, connectionTimeoutMillis: 5_000 });
  // A connection dropped by the server (a restart, a failover) emits 'error' on its client:
  // the pool's when idle, the client's own when checked out between two queries. Either,
  // unhandled, would end the process (found by the PostgreSQL outage scenario). Queries in
  // flight get their own errors, and a client released with an error is discarded.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  return pool;
}

/** Runs fn in a transaction on one client, committing on success and rolling back on error. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let result: T;
  try {
    await client.query("BEGIN");
    result = await fn(client);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    // Released with its error, the client is closed rather than handed out again broken.
    client.release(error as Error);
    throw error;
  }
  client.release();
  return result;
}
