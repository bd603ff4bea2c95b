import type { Engine } from "../engine/engine.js";
import { metrics } from "../engine/metrics.js";
import type { PassOutcome } from "./periodic.js";

/** Sweep calls in flight at once: auto-pipelined by ioredis, so a chunk costs about one round trip. */
const SWEEP_CHUNK = 256;

/**
 * One sweep pass over every live event: expired holds come back and the line moves even
 * when nobody books. Events that are gone, or whose sale is over with nothing held or
 * waiting, leave the live set, so a day's 100,000 new events do not pile up in every pass. Running it from several processes at once is harmless (each call is
 * one atomic script). "more" when a bound was hit, so more is waiting; "idle" when no hold
 * ended and the line did not move.
 */
export async function sweepPass(engine: Engine): Promise<PassOutcome> {
  const { reclaimMax, serveMax } = engine.config.holds;
  const eventIds = await engine.liveEventIds();
  let more = false;
  let moved = false;
  const done: string[] = [];
  for (let start = 0; start < eventIds.length; start += SWEEP_CHUNK) {
    const chunk = eventIds.slice(start, start + SWEEP_CHUNK);
    const results = await Promise.all(chunk.map((eventId) => engine.sweep(eventId)));
    for (const [index, result] of results.entries()) {
      if (result === null || result.finished) {
        done.push(chunk[index]!);
        if (result === null) continue;
      }
      metrics.sweepReclaimed.inc(result.reclaimed);
      more ||= result.reclaimed === reclaimMax || result.served + result.dropped === serveMax;
      moved ||= result.reclaimed + result.served + result.dropped > 0;
    }
  }
  // An event is made live after its hash is written, so a missing hash means it is gone for
  // good; a finished sale is made live again by whatever loads the event again (a PATCH, `cache warm`).
  await engine.forgetLiveEvents(done);
  return more ? "more" : moved ? "done" : "idle";
}
