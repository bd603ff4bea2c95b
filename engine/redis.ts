import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { RedisConfig } from "./config.js";
import type { Logger } from "./logger.js";

// Every Redis connection the engine opens is made here: one Redis at REDIS_URL, or a Redis
// Cluster when REDIS_CLUSTER_NODES names its seed nodes. Each script touches the keys of one
// event, all tagged {eventId}, so they run unchanged on a cluster; the few commands that span
// events (the live reader's XREAD, the audit's SCAN) ask `isCluster` and go slot by slot.

export type RedisClient = Redis | Cluster;

export interface RedisConnectOptions {
  /** Queue commands issued in the same tick into one round trip (per node on a cluster). */
  enableAutoPipelining?: boolean;
  /** null: retry forever (a blocking reader); a number: fail a command after that many reconnects. */
  maxRetriesPerRequest?: number | null;
  /** A command not answered in this long fails (also while queued for a reconnect); unset: no limit (blocking readers). */
  commandTimeoutMs?: number;
  /** Where a lost and a restored connection are reported; without it ioredis prints to stderr. */
  log?: Logger;
  /** Names the connection in those log lines. */
  role?: string;
}

export function connectRedis(
  config: Pick<RedisConfig, "url" | "clusterNodes">,
  options: RedisConnectOptions = {},
): RedisClient {
  const redisOptions: RedisOptions = {
    maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 3 : options.maxRetriesPerRequest,
    ...(options.commandTimeoutMs === undefined ? {} : { commandTimeout: options.commandTimeoutMs }),
  };
  const redis =
    config.clusterNodes.length === 0
      ? new Redis(config.url, { ...redisOptions, enableAutoPipelining: options.enableAutoPipelining ?? false })
      : new Cluster(config.clusterNodes, { redisOptions, enableAutoPipelining: options.enableAutoPipelining ?? false });
  if (options.log) reportConnection(redis, options.log, options.role ?? "engine");
  return redis;
}

/**
 * One log line when the connection is lost and one when it is back: ioredis emits an error per
 * reconnect attempt, and prints each with its stack to stderr when nobody listens.
 */
function reportConnection(redis: RedisClient, log: Logger, role: string): void {
  let lost = false;
  redis.on("error", (error: NodeJS.ErrnoException) => {
    if (lost) return;
    lost = true;
    log.error(
      { redis: role, error: error.message, code: error.code },
      "Redis connection lost; requests that need it answer 503 until it is back",
    );
  });
  redis.on("ready", () => {
    if (!lost) return;
    lost = false;
    log.info({ redis: role }, "Redis connection back");
  });
}

const UNAVAILABLE_NAMES = new Set(["MaxRetriesPerRequestError", "ClusterAllFailedError"]);
const UNAVAILABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH"]);
// ioredis's own messages, and Redis replies that mean "not now" (loading, failing over).
const UNAVAILABLE_MESSAGE =
  /^(Command timed out|Connection is closed|Stream isn't writeable|LOADING |CLUSTERDOWN |TRYAGAIN |MASTERDOWN )/;

/** The error says Redis is out of reach or not serving now, not that the command was wrong. */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    UNAVAILABLE_NAMES.has(error.name) ||
    UNAVAILABLE_CODES.has((error as NodeJS.ErrnoException).code ?? "") ||
    UNAVAILABLE_MESSAGE.test(error.message)
  );
}

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis instanceof Cluster;
}

/** Every key matching a SCAN pattern; on a cluster, every master is scanned. */
export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const nodes: Redis[] = isCluster(redis) ? redis.nodes("master") : [redis];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, batch] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== "0");
  }
  return keys;
}
