// Settings from the environment, each with a default that works on a developer machine.
// Every limit the engine enforces is named here.

export interface Limits {
  /** Largest request body accepted, in bytes. */
  bodyBytes: number;
  /** Most tickets in one booking, whatever the event allows. */
  quantityMax: number;
  /** Longest userId, in characters. */
  userIdChars: number;
  /** Longest Idempotency-Key header, in characters. */
  idempotencyKeyChars: number;
  /** Longest email address, in characters. */
  emailChars: number;
  /** Most people waiting in one event's line. */
  lineMax: number;
  /** Largest event capacity. */
  capacityMax: number;
  /** Largest ticket price, in minor units. */
  priceMax: number;
  /** Longest event name or venue, in characters. */
  textChars: number;
}

export interface Config {
  /** Address the HTTP roles bind; 0.0.0.0 behind a load balancer. */
  host: string;
  port: number;
  publicUrl: string;
  redisUrl: string;
  databaseUrl: string;
  databaseReadUrl: string;
  holdMs: number;
  paymentProvider: "mock" | "stripe";
  stripeSecretKey: string;
  stripeWebhookSecret: string;
  /** Where the mock gateway listens; the stripe SDK is pointed at it when provider is mock. */
  mockGatewayPort: number;
  /** Where the mock gateway delivers its webhooks. */
  mockWebhookUrl: string;
  adminToken: string;
  logLevel: string;
  limits: Limits;
  /** Expired holds a single script call reclaims at most. */
  reclaimMax: number;
  /** Line entries a single script call serves at most. */
  serveMax: number;
  /** How long finished bookings stay readable in Redis. */
  retentionMs: number;
  idempotencyTtlMs: number;
  sweepIntervalMs: number;
  relayIntervalMs: number;
  /** Log entries the relay writes in one transaction at most. */
  relayBatch: number;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function str(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  return raw === undefined || raw === "" ? fallback : raw;
}

export function loadConfig(env: Env = process.env): Config {
  const port = int(env, "PORT", 3000, 0, 65535);
  const mockGatewayPort = int(env, "MOCK_GATEWAY_PORT", port === 0 ? 0 : port + 1, 0, 65535);
  const publicUrl = str(env, "PUBLIC_URL", `http://127.0.0.1:${port}`);
  const provider = str(env, "PAYMENT_PROVIDER", "mock");
  if (provider !== "mock" && provider !== "stripe") {
    throw new Error(`PAYMENT_PROVIDER must be mock or stripe, got "${provider}"`);
  }
  const databaseUrl = str(env, "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/onsale");
  return {
    host: str(env, "HOST", "127.0.0.1"),
    port,
    publicUrl,
    redisUrl: str(env, "REDIS_URL", "redis://127.0.0.1:6379"),
    databaseUrl,
    databaseReadUrl: str(env, "DATABASE_READ_URL", databaseUrl),
    holdMs: int(env, "HOLD_SECONDS", 300, 1, 86_400) * 1000,
    paymentProvider: provider,
    stripeSecretKey: str(env, "STRIPE_SECRET_KEY", "sk_test_mock"),
    stripeWebhookSecret: str(env, "STRIPE_WEBHOOK_SECRET", "whsec_mock_local_development_only"),
    mockGatewayPort,
    mockWebhookUrl: str(env, "MOCK_WEBHOOK_URL", `${publicUrl}/webhooks/stripe`),
    adminToken: str(env, "ADMIN_TOKEN", "dev-admin-token"),
    logLevel: str(env, "LOG_LEVEL", "info"),
    limits: {
      bodyBytes: int(env, "MAX_BODY_BYTES", 16 * 1024, 256, 1024 * 1024),
      quantityMax: int(env, "MAX_QUANTITY", 10, 1, 100),
      userIdChars: 128,
      idempotencyKeyChars: 255,
      emailChars: 254,
      lineMax: int(env, "LINE_MAX", 1_000_000, 1, 100_000_000),
      capacityMax: 10_000_000,
      priceMax: 100_000_000,
      textChars: 200,
    },
    reclaimMax: int(env, "RECLAIM_MAX", 100, 1, 10_000),
    serveMax: int(env, "SERVE_MAX", 100, 1, 10_000),
    retentionMs: int(env, "BOOKING_RETENTION_SECONDS", 7 * 86_400, 60, 365 * 86_400) * 1000,
    idempotencyTtlMs: int(env, "IDEMPOTENCY_TTL_SECONDS", 86_400, 60, 30 * 86_400) * 1000,
    sweepIntervalMs: int(env, "SWEEP_INTERVAL_MS", 1000, 50, 60_000),
    relayIntervalMs: int(env, "RELAY_INTERVAL_MS", 200, 10, 60_000),
    relayBatch: int(env, "RELAY_BATCH", 500, 1, 10_000),
  };
}
