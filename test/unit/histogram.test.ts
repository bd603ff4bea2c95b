import { describe, expect, it } from "vitest";
import { LatencyHistogram } from "../../bench/histogram.js";

describe("LatencyHistogram", () => {
  it("answers quantiles within its 2% bucket width", () => {
    const histogram = new LatencyHistogram();
    for (let ms = 1; ms <= 1000; ms++) histogram.record(ms);
    for (const [quantile, ms] of [
      [0.5, 500],
      [0.99, 990],
      [1, 1000],
    ] as const) {
      const answer = histogram.quantileMs(quantile);
      expect(answer).toBeGreaterThanOrEqual(ms);
      expect(answer).toBeLessThanOrEqual(ms * 1.02);
    }
  });

  it("is 0 when empty, and keeps answers past a minute in its last bucket", () => {
    const histogram = new LatencyHistogram();
    expect(histogram.quantileMs(0.99)).toBe(0);
    histogram.record(120_000);
    expect(histogram.quantileMs(1)).toBeGreaterThanOrEqual(60_000);
    expect(histogram.nonEmpty()).toHaveLength(1);
  });

  it("adds up like one histogram fed both sets", () => {
    const [a, b, both] = [new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram()];
    for (let i = 0; i < 500; i++) {
      a.record(i * 0.1);
      b.record(i * 3);
      both.record(i * 0.1);
      both.record(i * 3);
    }
    a.add(new LatencyHistogram([...b.counts]));
    expect(a.total).toBe(1000);
    expect(a.counts).toEqual(both.counts);
    expect(a.nonEmpty()).toEqual(both.nonEmpty());
  });
});
