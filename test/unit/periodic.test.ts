import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../engine/logger.js";
import { outcomeOf, Periodic, type PassOutcome } from "../../jobs/periodic.js";

// A quiet work process polls rarely, a busy one promptly: the wait after a pass follows what
// the pass found.

describe("Periodic", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** The times (ms after start) at which passes ran, answering each with the next outcome. */
  async function passTimes(outcomes: PassOutcome[], intervalMs: number, idleIntervalMs: number): Promise<number[]> {
    const times: number[] = [];
    const startedMs = Date.now();
    const loop = new Periodic(
      "test",
      intervalMs,
      async () => {
        times.push(Date.now() - startedMs);
        return outcomes[times.length - 1] ?? "idle";
      },
      createLogger("silent", "test"),
      idleIntervalMs,
    );
    loop.start();
    while (times.length < outcomes.length) await vi.advanceTimersByTimeAsync(10);
    await loop.stop();
    return times;
  }

  it("waits twice as long after each idle pass, up to the idle interval, and the interval again after work", async () => {
    const times = await passTimes(["idle", "idle", "idle", "idle", "idle", "done", "more", "idle"], 100, 500);
    const waits = times.slice(1).map((t, i) => t - times[i]!);
    // After "more" at once (a timer's least wait is 1 ms).
    expect(waits).toEqual([200, 400, 500, 500, 500, 100, 1]);
  });

  it("never waits longer than the interval when the idle interval is shorter", async () => {
    const times = await passTimes(["idle", "idle", "idle"], 100, 50);
    expect(times.slice(1).map((t, i) => t - times[i]!)).toEqual([100, 100]);
  });

  it("names a pass by how much of its bound it used", () => {
    expect(outcomeOf(0, 50)).toBe("idle");
    expect(outcomeOf(3, 50)).toBe("done");
    expect(outcomeOf(50, 50)).toBe("more");
  });
});
