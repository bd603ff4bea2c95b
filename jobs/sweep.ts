import type { Engine } from "../engine/engine.js";
import { metrics } from "../engine/metrics.js";

/**
 * One sweep pass over every live event: expired holds come back and the line moves even
 * when nobody books. Running it from several processes at once is harmless (each call is
 * one atomic script). Returns true when a bound was hit, so more is waiting.
 */
export async function sweepPass(engine: Engine): Promise<boolean> {
  let more = false;
  for (const eventId of await engine.liveEventIds()) {
    const result = await engine.sweep(eventId);
    if (result === null) continue;
    metrics.sweepReclaimed.inc(result.reclaimed);
    more ||= result.reclaimed === engine.config.reclaimMax || result.served + result.dropped === engine.config.serveMax;
  }
  return more;
}
