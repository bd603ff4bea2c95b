import { progressBar } from "./progress.js";
import type { Config } from "../engine/config.js";
import type { Logger } from "../engine/logger.js";
import { createPool } from "../sql/db.js";
import { migrate } from "../sql/migrate.js";
import { GENERATE_BATCH_MAX, generateEvents } from "../search/generate.js";
import { reindex, typesenseClient } from "../search/typesense.js";
import { type CommandLine, UsageError, wholeNumber } from "./commandLine.js";

// CLI commands of the search concern:
//   generate --events N [--seed S] [--batch B]   insert N realistic catalog events
//   search reindex                                rebuild the Typesense collection from PostgreSQL

/** Most events one `generate` run inserts. */
const GENERATE_EVENTS_MAX = 10_000_000;

/** Runs `generate` or `search reindex`; returns false when the command is not one of them. */
export async function runSearchCommand(line: CommandLine, config: Config, log: Logger): Promise<boolean> {
  const { command, positionals } = line;
  if (command === "generate") {
    const count = wholeNumber(line, "events", 100_000, 1, GENERATE_EVENTS_MAX);
    const seed = wholeNumber(line, "seed", 1, 0, 2 ** 31 - 1);
    const batch = wholeNumber(line, "batch", 1000, 1, GENERATE_BATCH_MAX);
    const pool = createPool(config.postgres.url, 2);
    const bar = progressBar("generate");
    try {
      await migrate(pool);
      const startedMs = Date.now();
      await generateEvents(pool, { count, seed, batch, onProgress: (done) => bar.progress(done, count) });
      bar.stop();
      log.info({ events: count, seed, ms: Date.now() - startedMs }, "events generated");
    } finally {
      bar.stop();
      await pool.end();
    }
    return true;
  }
  if (command !== "search") return false;
  if (positionals[0] !== "reindex") throw new UsageError("usage: onsale search reindex");
  {
    if (!config.search.typesenseUrl)
      throw new Error("search reindex needs TYPESENSE_URL (PostgreSQL search needs no index rebuild).");
    const pool = createPool(config.postgres.readUrl, 2);
    const bar = progressBar("reindex");
    try {
      const sent = await reindex(pool, typesenseClient(config.search), config.search, bar.progress);
      bar.stop();
      log.info({ events: sent, collection: config.search.typesenseCollection }, "typesense reindexed");
    } finally {
      bar.stop();
      await pool.end();
    }
    return true;
  }
}
