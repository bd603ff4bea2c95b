import { networkInterfaces } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import type { RunningEngine } from "../bin/app.js";
import { api, completedEvent, startTestEngine } from "./helpers.js";

// The mock gateway can take money on nobody's behalf, so it must never run beside a real
// provider, nor be reachable from elsewhere, nor sign with the real provider's secret.

const REAL_PROVIDER = {
  PAYMENT_PROVIDER: "stripe",
  STRIPE_SECRET_KEY: "sk_test_gateway_suite_key",
  STRIPE_WEBHOOK_SECRET: "whsec_gateway_suite_real",
  POW_SECRET: "gateway-suite-pow-secret",
};
const external = Object.values(networkInterfaces())
  .flat()
  .find((address) => address?.family === "IPv4" && !address.internal)?.address;

let running: RunningEngine | null = null;
afterEach(async () => {
  await running?.stop();
  running = null;
});

describe("the mock gateway", () => {
  it("does not run with a real provider: start runs without it, and the gateway role alone refuses", async () => {
    running = await startTestEngine(REAL_PROVIDER, { gateway: true });
    expect(running.gateway).toBeNull();
    await expect(startTestEngine(REAL_PROVIDER, { serve: false, gateway: true })).rejects.toThrow(
      /PAYMENT_PROVIDER=mock/,
    );
  });

  it("signs with its own secret, not STRIPE_WEBHOOK_SECRET, and takes only the configured API key", async () => {
    running = await startTestEngine({ STRIPE_WEBHOOK_SECRET: "whsec_real_one", MOCK_WEBHOOK_SECRET: "whsec_mock_one" });
    const client = api(running);
    const eventId = await client.eventId();
    const held = await client.book(eventId, "secret-keeper");
    expect((await client.webhook(completedEvent({ id: held.body.id, eventId }, 5000), "whsec_real_one")).status).toBe(
      400,
    );
    expect(
      (await client.webhook(completedEvent({ id: held.body.id, eventId }, 5000), "whsec_mock_one")).body.outcome,
    ).toBe("paid");
    const gateway = `http://127.0.0.1:${running.config.payments.mock.port}/v1/events`;
    expect(
      (await fetch(gateway, { headers: { Authorization: `Bearer ${running.config.payments.stripe.secretKey}` } }))
        .status,
    ).toBe(200);
    expect((await fetch(gateway, { headers: { Authorization: "Bearer sk_test_anyone" } })).status).toBe(401);
  });

  it.skipIf(external === undefined)(
    "listens on loopback even when the engine listens everywhere (runs only where the host has a non-loopback address)",
    async () => {
      running = await startTestEngine({ HOST: "0.0.0.0" });
      expect((await fetch(`http://${external}:${running.http!.port}/healthz`)).status).toBe(200);
      await expect(fetch(`http://${external}:${running.config.payments.mock.port}/v1/events`)).rejects.toThrow();
      expect((await fetch(`http://127.0.0.1:${running.config.payments.mock.port}/v1/events`)).status).toBe(401);
    },
  );
});
