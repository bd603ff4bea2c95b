import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { runWaitingRoom } from "../bench/waitingRoom.js";

// The waiting-room benchmark in miniature (npm run bench:waiting-room measures 100,000
// sockets): 500 sockets, a few releases; it must connect everyone, deliver every turn and
// leave every socket at its right place. Speeds are reported by the bench, never asserted.

const outDir = mkdtempSync(join(tmpdir(), "onsale-waiting-room-"));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe("waiting-room benchmark smoke run", () => {
  it("follows 500 waiting people, turns each release into a turn, and leaves every socket at its place", async () => {
    const outFile = join(outDir, "waiting-room.json");
    const result = await runWaitingRoom({
      sockets: 500,
      tickets: 3,
      releases: 5,
      releaseGapMs: 100,
      idleMs: 0,
      redisUrl: inject("redisUrl"),
      databaseUrl: inject("databaseUrl"),
      bossSchema: `pgboss_bench_${process.env.VITEST_POOL_ID ?? "0"}`,
      outFile,
    });
    // Every socket accounted for: all open at the end, each moved up at least once, five served.
    expect(result).toMatchObject({ sockets: 500, open: 500, failedSockets: 0, closedEarly: 0, wrongPositions: 0 });
    expect(result).toMatchObject({ updated: 500, turns: 5, turnsMissed: 0 });
    expect(result.turnLagMs.samples).toHaveLength(5);
    // Other test files share this Redis, so its call counts are printed, not asserted here
    // (test/liveLimits.test.ts counts them on a Redis of its own).
    expect(result.redis.moves).toBe(5);
    expect(JSON.parse(readFileSync(outFile, "utf8")).sockets).toBe(500);
  });
});
