import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningEngine } from "../bin/app.js";
import { type Api, api, startTestEngine } from "./helpers.js";

// What the HTTP roles bind and send with every page: an exclusive port, /metrics where the
// operator puts it, and the headers that keep pages from being framed or leaking tokens.

let running: RunningEngine;
let client: Api;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  running = await startTestEngine({ METRICS_PORT: "0" });
  client = api(running);
});
afterAll(async () => {
  for (const close of closers) await close();
  await running.stop();
});

describe("listeners", () => {
  it("a second engine on a port in use fails to start instead of sharing it", async () => {
    await expect(startTestEngine({ PORT: String(running.http!.port) })).rejects.toThrow(/port in use/);
    // The first engine still answers alone.
    expect((await client.request("GET", "/healthz")).status).toBe(200);
  });

  it("serves /metrics only on METRICS_PORT when it is set", async () => {
    expect((await client.request("GET", "/metrics")).status).toBe(404);
    const metrics = await fetch(`http://127.0.0.1:${running.metricsHttp!.port}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/onsale_http_requests_total/);
  });

  it("serves /metrics with the other routes when METRICS_PORT is unset", async () => {
    const plain = await startTestEngine();
    closers.push(() => plain.stop());
    expect(plain.metricsHttp).toBeNull();
    expect((await api(plain).request("GET", "/metrics")).status).toBe(200);
  });
});

describe("page headers", () => {
  it("every page forbids framing, limits its sources and sends no Referer", async () => {
    const eventId = await client.eventId({ capacity: 3 });
    const booking = (await client.book(eventId, "page-headers", 1)).body;
    for (const path of [
      `/e/${eventId}`,
      `/e/${"0".repeat(8)}`,
      `/pay/${booking.id}/return?token=${encodeURIComponent(booking.token)}`,
      `/pay/${booking.id}?token=wrong`,
    ]) {
      const answer = await client.request("GET", path);
      expect(answer.contentType, path).toContain("text/html");
      const policy = answer.headers.get("content-security-policy") ?? "";
      expect(policy, path).toContain("frame-ancestors 'none'");
      expect(policy, path).toContain("script-src 'self'");
      expect(answer.headers.get("referrer-policy"), path).toBe("no-referrer");
    }
  });
});
