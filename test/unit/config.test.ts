import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadConfig, type Config } from "../../engine/config.js";

// The settings: their defaults, their bounds, and the README's table naming every one the
// engine reads. Bounds and names are read from engine/config.ts itself, so a setting added
// there is checked here without editing this file.

const source = readFileSync(new URL("../../engine/config.ts", import.meta.url), "utf8");
const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

/** Every variable loadConfig reads: `reader(env, "NAME"…)` and `env.NAME`. */
function variablesRead(): string[] {
  const names = new Set<string>();
  for (const match of source.matchAll(/\w+\(env, "([A-Z][A-Z0-9_]*)"/g)) names.add(match[1]!);
  for (const match of source.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) names.add(match[1]!);
  return [...names].sort();
}

/** Every variable named in the first column of a table under "## Settings". */
function variablesDocumented(): string[] {
  const section = readme.split(/^## Settings$/m)[1]?.split(/^## /m)[0] ?? "";
  const names = new Set<string>();
  for (const row of section.split("\n").filter((line) => line.startsWith("| `"))) {
    const firstCell = row.split("|")[1]!;
    for (const match of firstCell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(match[1]!);
  }
  return [...names].sort();
}

/** A bound written as digits, `_` and `*` (86_400, 365 * 86_400) or as a constant so written. */
function bound(text: string): number {
  const constant = new RegExp(`const ${text} = ([\\d_ *]+);`).exec(source);
  const expression = constant ? constant[1]! : text;
  expect(expression, `bound ${text}`).toMatch(/^[\d_ *]+$/);
  return expression.split("*").reduce((product, factor) => product * Number(factor.trim().replace(/_/g, "")), 1);
}

/** Every whole-number setting with its bounds: `int(env, "NAME", fallback, min, max)`. */
function intSettings(): { name: string; min: number; max: number }[] {
  return [...source.matchAll(/\bint\(env, "([A-Z0-9_]+)", [^,]+, ([\w *]+), ([\w *]+)\)/g)].map((match) => ({
    name: match[1]!,
    min: bound(match[2]!.trim()),
    max: bound(match[3]!.trim()),
  }));
}

describe("settings", () => {
  it("default to what works on a developer machine", () => {
    const expected: Config = {
      http: {
        host: "127.0.0.1",
        port: 3000,
        metricsListen: null,
        publicUrl: "http://127.0.0.1:3000",
        shutdownDrainMs: 10_000,
        adminToken: "dev-admin-token",
        workers: 1,
        workersGiven: false,
      },
      redis: {
        url: "redis://127.0.0.1:6379",
        clusterNodes: [],
        urlGiven: false,
        commandTimeoutMs: 2000,
        confirmWait: { replicas: 0, timeoutMs: 100 },
      },
      postgres: {
        url: "postgres://postgres@127.0.0.1:5432/onsale",
        readUrl: "postgres://postgres@127.0.0.1:5432/onsale",
        urlGiven: false,
        readUrlGiven: false,
        bossSchema: "pgboss",
      },
      holds: {
        holdMs: 300_000,
        reclaimMax: 100,
        serveMax: 100,
        retentionMs: 7 * 86_400_000,
        unpaidRetentionMs: 3_600_000,
        idempotencyTtlMs: 86_400_000,
        sweepIntervalMs: 1000,
        sweepIdleIntervalMs: 1000,
        batch: { enabled: false, max: 64, waitUs: 0 },
      },
      relay: { intervalMs: 200, idleIntervalMs: 1000, batch: 500, batchMax: 5000, maxAttempts: 5 },
      payments: {
        provider: "mock",
        stripe: { secretKey: "sk_test_mock", webhookSecret: "whsec_mock_local_development_only" },
        mock: {
          host: "127.0.0.1",
          port: 3001,
          webhookSecret: "whsec_mock_gateway_local_only",
          webhookUrl: "http://127.0.0.1:3000/webhooks/stripe",
        },
        repairAfterMs: 60_000,
        repairIntervalMs: 10_000,
        checkoutCloseGraceMs: 10_000,
      },
      mail: {
        smtpUrl: "",
        from: "On-sale tickets <tickets@onsale.localhost>",
        dir: ".data/mail",
        reminderOffsetsMs: [86_400_000, 3_600_000],
      },
      search: {
        limitDefault: 20,
        limitMax: 100,
        textChars: 200,
        cacheMs: 2000,
        wordSimilarityPct: 40,
        typesenseUrl: "",
        typesenseApiKey: "xyz",
        typesenseCollection: "events",
        reindexBatch: 1000,
      },
      antiBot: {
        trustProxy: 0,
        powSecret: "dev-pow-secret",
        powTtlMs: 120_000,
        rateIpPerS: 50,
        rateIpBurst: 100,
        rateUserPerS: 2,
        rateUserBurst: 5,
        ipBookingsMax: 1000,
        userTokens: { secret: "", jwksUrl: "", maxAgeS: 300 },
      },
      limits: {
        bodyBytes: 16_384,
        quantityMax: 10,
        userIdChars: 128,
        idempotencyKeyChars: 255,
        emailChars: 254,
        lineMax: 1_000_000,
        capacityMax: 10_000_000,
        priceMax: 100_000_000,
        textChars: 200,
        liveSocketsMax: 100_000,
        liveSocketsPerBooking: 10,
        liveSocketsPerIp: 200,
        liveRefreshMs: 50,
        liveHeadPositions: 100,
        livePositionIntervalMs: 1000,
        livePositionStepPercent: 1,
        liveIdleSeconds: 60,
        powBitsMax: 28,
        holdSecondsMax: 86_400,
        soldOutMemoMs: 1000,
      },
      logLevel: "info",
    };
    expect(loadConfig({})).toEqual(expected);
  });

  it("derive from the ones they follow, and know which were given", () => {
    const config = loadConfig({
      PORT: "8080",
      PUBLIC_URL: "https://tickets.example",
      REDIS_URL: "redis://cache:6379",
      DATABASE_URL: "postgres://db/onsale",
      WEB_WORKERS: "4",
      METRICS_PORT: "9100",
    });
    expect(config.payments.mock.port).toBe(8081);
    expect(config.payments.mock.webhookUrl).toBe("https://tickets.example/webhooks/stripe");
    expect(config.postgres).toMatchObject({
      url: "postgres://db/onsale",
      readUrl: "postgres://db/onsale",
      urlGiven: true,
      readUrlGiven: false,
    });
    expect(config.redis.urlGiven).toBe(true);
    expect(config.http).toMatchObject({
      workers: 4,
      workersGiven: true,
      metricsListen: { host: "127.0.0.1", port: 9100 },
    });
    expect(loadConfig({ PORT: "0" }).payments.mock.port).toBe(0);
    expect(loadConfig({ REDIS_CLUSTER_NODES: "a:7000, [::1]:7001" }).redis.clusterNodes).toEqual([
      { host: "a", port: 7000 },
      { host: "::1", port: 7001 },
    ]);
    // A backlog's batches never shrink below the batch while the relay keeps up.
    expect(loadConfig({ RELAY_BATCH: "800", RELAY_BATCH_MAX: "100" }).relay).toMatchObject({
      batch: 800,
      batchMax: 800,
    });
    expect(loadConfig({ RELAY_BATCH: "800", RELAY_BATCH_MAX: "9000" }).relay).toMatchObject({ batchMax: 9000 });
    expect(loadConfig({ REMINDER_OFFSETS: "90s,2d,1h,1h" }).mail.reminderOffsetsMs).toEqual([
      172_800_000, 3_600_000, 90_000,
    ]);
  });

  it("take each whole number within its bounds and refuse one outside them, naming the variable", () => {
    const settings = intSettings();
    expect(settings.length).toBeGreaterThan(30);
    // PORT's largest leaves no room for the mock gateway's default PORT + 1.
    const room = { MOCK_GATEWAY_PORT: "4000" };
    for (const { name, min, max } of settings) {
      expect(() => loadConfig({ ...room, [name]: String(min) }), name).not.toThrow();
      expect(() => loadConfig({ ...room, [name]: String(max) }), name).not.toThrow();
      for (const bad of [String(min - 1), String(max + 1), "1.5", "ten", `${min}e0`, "0x1", ` ${min}`]) {
        expect(() => loadConfig({ [name]: bad }), `${name}=${bad}`).toThrow(new RegExp(`^${name} must be`));
      }
    }
  });

  it("refuse a malformed value of the other kinds, naming the variable", () => {
    const bad: Record<string, string> = {
      PAYMENT_PROVIDER: "paypal",
      HOLD_BATCH: "yes",
      PGBOSS_SCHEMA: "Bad-Schema",
      TYPESENSE_COLLECTION: "1events",
      REDIS_CLUSTER_NODES: "cache:6379,cache",
      REMINDER_OFFSETS: "1w",
    };
    for (const [name, value] of Object.entries(bad))
      expect(() => loadConfig({ [name]: value }), name).toThrow(new RegExp(`^${name} `));
    expect(() => loadConfig({ REMINDER_OFFSETS: "1s,2s,3s,4s,5s,6s" })).toThrow(/^REMINDER_OFFSETS takes at most 5/);
  });

  it("are each in the README's table, and the table names only settings the engine reads", () => {
    const read = variablesRead();
    expect(read).toContain("IDEMPOTENCY_TTL_SECONDS");
    expect(read).toContain("WEB_WORKERS");
    expect(variablesDocumented()).toEqual(read);
  });
});
