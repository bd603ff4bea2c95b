import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { costTargets, headline, serverCpuUs, verdict, verdictLines } from "../../bench/costs.js";
import type { BenchResult } from "../../bench/run.js";

// The verdict the report and the printed summary open with, from a real run's results
// (test/fixtures/benchResult.json: 5,000 people on a loaded 2-core machine) and from
// figures changed to sit on either side of each limit.

const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, "..", "fixtures", "benchResult.json"), "utf8"),
) as BenchResult;

/** The fixture with the on-sale's CPU per person and the p99 at 80% of peak replaced. */
function withFigures(cpuUsPerRequest: Record<string, number>, p99At80Ms: number): BenchResult {
  const result = structuredClone(fixture);
  result.runs.engine.cpuUsPerRequest = cpuUsPerRequest;
  result.runs.engineSingleAt80.p99Ms = p99At80Ms;
  result.costTargets = costTargets(result.runs);
  return result;
}

describe("bench verdict", () => {
  it("sums the engine's processes, not the load generator or the mix, and derives the headroom of two cores", () => {
    const v = verdict(fixture);
    expect(v.systemUsPerPerson).toBe(2232.4);
    expect(v.systemUsPerPerson).toBe(serverCpuUs(fixture.runs.engine));
    expect(v.headroomPerS).toBe(Math.round(2e6 / 2232.4));
    expect(v.toEngineTarget).toBe(22.32);
    expect(v).toMatchObject({
      people: 5000,
      answeredS: 41.17,
      settledS: 57.9,
      targetsMet: 0,
      targets: 5,
      invariantsOk: true,
      at80: { rps: 362, p99Ms: 296.544, met: false },
      loadgenUsPerRequest: 160,
      loadgenToSystem: 0.07,
      loadgenBound: false,
    });
  });

  it("says it in one sentence, then a line per question", () => {
    const v = verdict(fixture);
    expect(headline(v)).toBe(
      "5,000 people: the engine spent 2,232 µs of CPU per person across its processes, 22.3× the 100 µs target; 0 of 5 cost targets met; no invariant broke.",
    );
    expect(verdictLines(v)).toEqual([
      "5,000 people through the on-sale in 41.2 s (every one answered); nothing held and every paid booking in PostgreSQL after 57.9 s.",
      "p99 at 80% of peak (362 req/s): 296.5 ms, NOT under the 20 ms limit.",
      "Headroom: at 2,232.4 µs of system CPU per person, 2 cores carry about 896 bookings/s (2 × 1,000,000 / 2,232.4).",
      "Load generator: 160 µs of CPU per request against the engine's 2,232.4 (0.07×): it cost less than the engine, so it was not what bound this run's throughput.",
    ]);
  });

  it("meets the latency limit only strictly under 20 ms, and calls the load generator the bound when it cost as much as the engine", () => {
    const fast = verdict(withFigures({ loadgen: 90, serve: 40, work: 20, redis: 20, postgres: 10, mix: 500 }, 19.9));
    expect(fast).toMatchObject({
      systemUsPerPerson: 90,
      toEngineTarget: 0.9,
      headroomPerS: 22_222,
      at80: { met: true },
      loadgenBound: true,
    });
    expect(headline(fast)).toMatch(
      /spent 90 µs of CPU per person across its processes, 0.9× the 100 µs target; 2 of 5 cost targets met/,
    );
    expect(verdictLines(fast)[3]).toMatch(/it, not the engine, bound/);
    expect(verdict(withFigures({ serve: 40 }, 20)).at80.met).toBe(false);
  });

  it("says so when an invariant broke", () => {
    const broken = structuredClone(fixture);
    broken.invariants.ok = false;
    expect(headline(verdict(broken))).toMatch(/; an invariant BROKE\.$/);
  });
});
