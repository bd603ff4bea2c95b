import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { RedisConfig } from "./config.js";

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
}

export function connectRedis(config: Pick<RedisConfig, "url" | "clusterNodes">, options: RedisConnectOptions = {}): RedisClient {
  const redisOptions: RedisOptions = { maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 3 : options.maxRetriesPerRequest };
  if (config.clusterNodes.length === 0) {
    return new Redis(config.url, { ...redisOptions, enableAutoPipelining: options.enableAutoPipelining ?? false });
  }
  return new Cluster(config.clusterNodes, { redisOptions, enableAutoPipelining: options.enableAutoPipelining ?? false });
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
