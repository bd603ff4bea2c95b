import { describe, expect, it } from "vitest";
import { metrics, registry } from "../../engine/metrics.js";

// Per-request counts are kept in plain numbers and handed to prom-client when read: what
// GET /metrics prints must be what was counted, read once or many times.

const lines = async (pattern: RegExp) => (await registry.metrics()).split("\n").filter((line) => pattern.test(line));

describe("per-request metrics", () => {
  it("count by label values, across reads", async () => {
    const created = metrics.httpRequests.tally({ route: "unit.route", status: 201 });
    created.inc();
    metrics.httpRequests.tally({ route: "unit.route", status: 201 }).inc();
    metrics.httpRequests.tally({ route: "unit.route", status: 409 }).inc();
    expect(await lines(/route="unit.route"/)).toEqual([
      'onsale_http_requests_total{route="unit.route",status="201"} 2',
      'onsale_http_requests_total{route="unit.route",status="409"} 1',
    ]);
    created.inc();
    expect(await lines(/route="unit.route",status="201"/)).toEqual([
      'onsale_http_requests_total{route="unit.route",status="201"} 3',
    ]);
  });

  it("bucket durations cumulatively, with their sum and count", async () => {
    const timing = metrics.scriptSeconds.timing("unit_script");
    timing.since(performance.now() - 3);
    timing.since(performance.now() - 700);
    const printed = await lines(/script="unit_script"/);
    expect(printed).toContain('onsale_script_seconds_bucket{le="0.002",script="unit_script"} 0');
    expect(printed).toContain('onsale_script_seconds_bucket{le="0.005",script="unit_script"} 1');
    expect(printed).toContain('onsale_script_seconds_bucket{le="0.5",script="unit_script"} 1');
    expect(printed).toContain('onsale_script_seconds_bucket{le="+Inf",script="unit_script"} 2');
    expect(printed).toContain('onsale_script_seconds_count{script="unit_script"} 2');
    const sum = Number(printed.find((line) => line.startsWith("onsale_script_seconds_sum"))!.split(" ")[1]);
    expect(sum).toBeGreaterThan(0.7);
    expect(sum).toBeLessThan(1);
  });
});
