import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../engine/config.js";
import { uuidv7 } from "../engine/ids.js";
import { issueChallenge, readChallenge } from "../engine/pow.js";

// Public development defaults must never guard real money or a real sale, and a signed
// challenge must not outlive POW_TTL_SECONDS, whoever minted it.

const SET = {
  ADMIN_TOKEN: "a-real-admin-token",
  STRIPE_SECRET_KEY: "sk_live_real",
  STRIPE_WEBHOOK_SECRET: "whsec_real",
  POW_SECRET: "a-real-pow-secret",
};

describe("secrets at startup", () => {
  it("in production, refuses every secret unset, naming each", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(
      /ADMIN_TOKEN.*STRIPE_SECRET_KEY.*STRIPE_WEBHOOK_SECRET.*POW_SECRET/s,
    );
  });

  it("with a real provider, refuses a development default, naming only those left at it", () => {
    const env = {
      ...SET,
      PAYMENT_PROVIDER: "stripe",
      STRIPE_WEBHOOK_SECRET: "whsec_mock_local_development_only",
      POW_SECRET: "dev-pow-secret",
    };
    let message = "";
    try {
      loadConfig(env);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/STRIPE_WEBHOOK_SECRET/);
    expect(message).toMatch(/POW_SECRET/);
    expect(message).not.toMatch(/ADMIN_TOKEN|STRIPE_SECRET_KEY/);
  });

  it("starts with every secret set, and on a developer machine with the defaults", () => {
    expect(loadConfig({ ...SET, NODE_ENV: "production", PAYMENT_PROVIDER: "stripe" }).payments.provider).toBe("stripe");
    expect(loadConfig({}).http.adminToken).toBe("dev-admin-token");
  });
});

describe("proof-of-work challenge lifetime", () => {
  const secret = "pow-test-secret";
  const eventId = uuidv7();
  const ttlMs = 120_000;
  /** A challenge signed with the secret but minted by hand, as anyone holding it could. */
  const minted = (issuedAtMs: number, expiresAtMs: number) => {
    const text = `p1.${eventId}.10.${expiresAtMs}.${uuidv7(issuedAtMs).replace(/-/g, "")}`;
    return `${text}.${createHmac("sha256", secret).update(text).digest("base64url")}`;
  };

  it("accepts one it issued until its expiry", () => {
    const nowMs = Date.now();
    const issued = issueChallenge(secret, eventId, 10, ttlMs, nowMs);
    expect(readChallenge(secret, issued.challenge, eventId, ttlMs, nowMs + ttlMs - 1)).not.toBeNull();
    expect(readChallenge(secret, issued.challenge, eventId, ttlMs, nowMs + ttlMs)).toBeNull();
  });

  it("refuses one whose expiry lies beyond POW_TTL_SECONDS from its issue, or issued in the future", () => {
    const nowMs = Date.now();
    expect(readChallenge(secret, minted(nowMs, nowMs + 365 * 86_400_000), eventId, ttlMs, nowMs)).toBeNull();
    expect(readChallenge(secret, minted(nowMs + 60_000, nowMs + 90_000), eventId, ttlMs, nowMs)).toBeNull();
    expect(readChallenge(secret, minted(nowMs, nowMs + ttlMs), eventId, ttlMs, nowMs)).not.toBeNull();
  });
});
