import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Progress } from "../../bench/progress.js";

// The bench's progress lines: between bars, a phase that has said nothing for a few seconds
// says what it is still doing; after it ends, nothing more.

function collector(): { out: Writable; lines: () => string[] } {
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { out, lines: () => chunks.join("").split("\n").filter(Boolean) };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("bench progress", () => {
  it("says what a silent phase is still doing every few seconds, and stops when it ends", () => {
    const { out, lines } = collector();
    const progress = new Progress(out);
    progress.begin(0, 2, { name: "http ceiling", what: "the uWS layer alone" });
    progress.step("starting 1 ceiling server process(es)");
    vi.advanceTimersByTime(2500);
    expect(lines()).toEqual(["[1/2] http ceiling: the uWS layer alone", "  starting 1 ceiling server process(es)"]);
    vi.advanceTimersByTime(1000);
    expect(lines().at(-1)).toBe("  … starting 1 ceiling server process(es), 3.0 s so far");
    vi.advanceTimersByTime(3000);
    expect(lines().at(-1)).toBe("  … starting 1 ceiling server process(es), 6.0 s so far");
    progress.end("2,000 req/s");
    const ended = lines().length;
    expect(lines().at(-1)).toBe("[1/2] http ceiling done in 6.5 s: 2,000 req/s");
    vi.advanceTimersByTime(10_000);
    expect(lines()).toHaveLength(ended);
  });
});
