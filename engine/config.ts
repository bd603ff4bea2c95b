import { wholeNumberIn } from "./text.js";

// Settings from the environment, each with a default that works on a developer machine.
// This is the only module that reads them: one interface and one reader per group, and every
// consumer receives its group. Every limit the engine enforces is named here.

type Env = Record<string, string | undefined>;

/** A day: no hold, the engine's or an event's, lasts longer. */
const HOLD_SECONDS_MAX = 86_400;
/** Most proxies X-Forwarded-For is read through. */
const TRUST_PROXY_MAX = 8;
/** Most HTTP processes one primary runs (WEB_WORKERS, serve --workers). */
export const WEB_WORKERS_MAX = 64;
/** Most reminders per booking. */
const REMINDERS_MAX = 5;

/** The payment providers engine/payments/registry.ts has an adapter for. */
export const PAYMENT_PROVIDER_NAMES = ["stripe", "mock"] as const;
export type PaymentProviderName = (typeof PAYMENT_PROVIDER_NAMES)[number];

export interface HostPort {
  host: string;
  port: number;
}

export interface HttpConfig {
  /** Address the HTTP roles bind; 0.0.0.0 behind a load balancer. */
  host: string;
  port: number;
  /** Where GET /metrics is served on its own (an internal address); null: on PORT with the other routes. */
  metricsListen: HostPort | null;
  publicUrl: string;
  /** On SIGTERM, how long an HTTP process waits for its requests in flight before it exits. */
  shutdownDrainMs: number;
  adminToken: string;
  /** HTTP processes `serve` runs on one port. */
  workers: number;
  /** WEB_WORKERS was set: even one process shares its port (a rolling restart beside the old ones). */
  workersGiven: boolean;
}

export interface RedisConfig {
  url: string;
  /** Seed nodes of a Redis Cluster; empty means one Redis at url. */
  clusterNodes: HostPort[];
  /** REDIS_URL was set: a Redis that is not running is an error, not one to start. */
  urlGiven: boolean;
  /** Longest the engine waits for one Redis command before the request answers 503. */
  commandTimeoutMs: number;
  /**
   * Replicas a payment's confirm waits for (Redis WAIT) before the webhook is answered; 0 = no
   * wait. Applied payments are restored from PostgreSQL after a failover either way.
   */
  confirmWait: { replicas: number; timeoutMs: number };
}

export interface PostgresConfig {
  url: string;
  /** Where reads that may lag go (search, event pages, admin lists); the primary unless DATABASE_READ_URL is set. */
  readUrl: string;
  /** DATABASE_URL was set: a server that is not running is an error, not one to start. */
  urlGiven: boolean;
  readUrlGiven: boolean;
  /** pg-boss's schema: processes sharing one names one set of queues. */
  bossSchema: string;
}

export interface HoldBatch {
  /** HOLD_BATCH=on: holds go through lua/hold_batch.lua, one call per batch. */
  enabled: boolean;
  /** Holds in one script call at most. */
  max: number;
  /** How long the first hold of a batch waits for others, in µs; 0: until the event loop's next turn. */
  waitUs: number;
}

export interface HoldsConfig {
  holdMs: number;
  /** Expired holds a single script call reclaims at most. */
  reclaimMax: number;
  /** Line entries a single script call serves at most. */
  serveMax: number;
  /** How long paid and refunded bookings stay readable in Redis. */
  retentionMs: number;
  /** How long bookings that ended unpaid (expired, cancelled) stay readable in Redis; at most retentionMs. */
  unpaidRetentionMs: number;
  idempotencyTtlMs: number;
  sweepIntervalMs: number;
  /** The sweep's (and checkout closing's) wait grows to this while passes find nothing to do. */
  sweepIdleIntervalMs: number;
  /** Group commit: concurrent holds for one event share one script call. */
  batch: HoldBatch;
}

export interface RelayConfig {
  intervalMs: number;
  /** The wait between passes grows to this while no event has new entries. */
  idleIntervalMs: number;
  /** Log entries the relay writes in one transaction, while it keeps up. */
  batch: number;
  /** While an event's batches come back full (a backlog), each is twice the last, up to this many entries. */
  batchMax: number;
  /** Failed passes over an event's next entries before each is tried alone and a refused one set aside. */
  maxAttempts: number;
}

export interface PaymentsConfig {
  provider: PaymentProviderName;
  stripe: { secretKey: string; webhookSecret: string };
  /** The mock gateway (PAYMENT_PROVIDER=mock only); the stripe SDK is pointed at it. */
  mock: {
    host: string;
    port: number;
    /** What the mock gateway signs its webhooks with; never the real provider's secret. */
    webhookSecret: string;
    /** Where the mock gateway delivers its webhooks. */
    webhookUrl: string;
  };
  /** A webhook fact recorded but not applied this long ago is applied by the repair pass. */
  repairAfterMs: number;
  repairIntervalMs: number;
  /** Room for a payment started in a hold's last second before its checkout is closed. */
  checkoutCloseGraceMs: number;
}

export interface MailConfig {
  /** nodemailer SMTP URL; empty runs a local SMTP sink that stores each message under dir. */
  smtpUrl: string;
  from: string;
  dir: string;
  /** Reminders go this long before the event starts, largest first. */
  reminderOffsetsMs: number[];
}

/** GET /events limits, cache, trigram threshold, optional Typesense. */
export interface SearchConfig {
  /** Results per page when the client names no limit. */
  limitDefault: number;
  /** Most results per page a client may ask for (SEARCH_LIMIT_MAX). */
  limitMax: number;
  /** Longest search text, in characters. */
  textChars: number;
  /** How long an answer stays cached in Redis; 0 turns the cache off. */
  cacheMs: number;
  /** Least word similarity (pg_trgm, in hundredths) for a typo'd query to match a name or venue. */
  wordSimilarityPct: number;
  /** Typesense base URL; empty means PostgreSQL answers searches. */
  typesenseUrl: string;
  typesenseApiKey: string;
  typesenseCollection: string;
  /** Events sent to Typesense in one import call by `search reindex`. */
  reindexBatch: number;
}

export interface AntiBotConfig {
  /** Proxies in front of the HTTP roles: the client IP is the X-Forwarded-For entry this many from the right; 0: the socket's. */
  trustProxy: number;
  /** Key that signs proof-of-work challenges; every HTTP process of one deployment shares it. */
  powSecret: string;
  /** How long a proof-of-work challenge may be used. */
  powTtlMs: number;
  /** Booking requests per second per client IP (token bucket refill) and the bucket's size. */
  rateIpPerS: number;
  rateIpBurst: number;
  /** Booking requests per second per userId and the bucket's size. */
  rateUserPerS: number;
  rateUserBurst: number;
  /** Bookings one client IP may make per event within one unpaid retention window. */
  ipBookingsMax: number;
  /** Signed identities on POST /bookings: on when secret or jwksUrl is set (http/userTokens.ts). */
  userTokens: UserTokenSettings;
}

export interface UserTokenSettings {
  /** HS256 key shared with the ticketing site; "" for none. */
  secret: string;
  /** Where the ticketing site publishes its public keys (JWKS); "" for none. */
  jwksUrl: string;
  /** Oldest token accepted, by its iat. */
  maxAgeS: number;
}

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
  /** WebSocket clients one HTTP process follows at most. */
  liveSocketsMax: number;
  /** WebSocket clients one process lets follow one booking (tabs of one person), and come from one client address. */
  liveSocketsPerBooking: number;
  liveSocketsPerIp: number;
  /** Shortest time between two rounds of pushes to one event's sockets: changes within it share one message per socket. */
  liveRefreshMs: number;
  /** Sockets whose place in line is within this many of the head are sent each move of the line (at most one per LIVE_REFRESH_MS). */
  liveHeadPositions: number;
  /** Sockets further back are sent their new place at most this often. */
  livePositionIntervalMs: number;
  /**
   * ...and only once it moved by this percentage of the place last sent (0: at every pass): at
   * place 80,000 a step of one place tells nobody anything, and a full pass over a 100,000 line
   * sending every place cost a core at ~30 µs per message.
   */
  livePositionStepPercent: number;
  /** A socket that sends nothing this long is pinged; one that does not answer the ping (4-16 s) is closed. */
  liveIdleSeconds: number;
  /** Hardest proof-of-work an event may ask for, in leading zero bits. */
  powBitsMax: number;
  /** Longest hold an event may ask for, in seconds (also HOLD_SECONDS's bound). */
  holdSecondsMax: number;
  /** How long a process refuses an event sold-out by itself after Redis did (engine/soldOutMemo.ts); 0 = always ask Redis. */
  soldOutMemoMs: number;
}

export interface Config {
  http: HttpConfig;
  redis: RedisConfig;
  postgres: PostgresConfig;
  holds: HoldsConfig;
  relay: RelayConfig;
  payments: PaymentsConfig;
  mail: MailConfig;
  search: SearchConfig;
  antiBot: AntiBotConfig;
  limits: Limits;
  logLevel: string;
}

// Readers of one variable each; a value out of bounds is refused naming the variable.

function given(env: Env, name: string): boolean {
  return env[name] !== undefined && env[name] !== "";
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = wholeNumberIn(raw, min, max);
  if (value === null) throw new Error(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  return value;
}

function str(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  return raw === undefined || raw === "" ? fallback : raw;
}

/** A comma-separated list of host:port. */
function hostPorts(env: Env, name: string): HostPort[] {
  return str(env, name, "")
    .split(",")
    .filter((entry) => entry.trim() !== "")
    .map((entry) => {
      const match = /^\s*([\w.-]+|\[[\d:a-fA-F]+\]):(\d{1,5})\s*$/.exec(entry);
      const port = Number(match?.[2]);
      if (!match || port < 1 || port > 65535)
        throw new Error(`${name} must be host:port entries separated by commas, got "${entry}"`);
      return { host: match[1]!.replace(/^\[|\]$/g, ""), port };
    });
}

function onOff(env: Env, name: string, fallback: boolean): boolean {
  const value = str(env, name, fallback ? "on" : "off");
  if (value !== "on" && value !== "off") throw new Error(`${name} must be on or off, got "${value}"`);
  return value === "on";
}

function identifier(env: Env, name: string, fallback: string): string {
  const value = str(env, name, fallback);
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(value))
    throw new Error(`${name} must be a lower-case SQL identifier, got ${JSON.stringify(value)}`);
  return value;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A comma-separated list of durations such as "24h,1h,90s", largest first; "" for none. */
function offsets(env: Env, name: string, fallback: string): number[] {
  const raw = env[name] ?? fallback;
  const parts = raw
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
  if (parts.length > REMINDERS_MAX)
    throw new Error(`${name} takes at most ${REMINDERS_MAX} offsets, got ${parts.length}`);
  const values = parts.map((part) => {
    const match = /^(\d{1,7})([smhd])$/.exec(part);
    if (match === null) throw new Error(`${name} must list durations like 24h,1h,30m,90s; got "${part}"`);
    return Number(match[1]) * UNIT_MS[match[2]!]!;
  });
  return [...new Set(values)].sort((a, b) => b - a);
}

/** Development defaults, public in this repository: refused where they would guard anything real. */
const DEV_SECRETS = {
  ADMIN_TOKEN: "dev-admin-token",
  STRIPE_SECRET_KEY: "sk_test_mock",
  STRIPE_WEBHOOK_SECRET: "whsec_mock_local_development_only",
  POW_SECRET: "dev-pow-secret",
} as const;

/** In production, or with a real payment provider, every secret must be set to its own value. */
function refuseDevSecrets(env: Env, provider: PaymentProviderName): void {
  const production = env.NODE_ENV === "production";
  if (!production && provider === "mock") return;
  const left = Object.entries(DEV_SECRETS)
    .filter(([name, dev]) => str(env, name, dev) === dev)
    .map(([name]) => name);
  if (left.length === 0) return;
  const why = production ? "NODE_ENV=production" : `PAYMENT_PROVIDER=${provider}`;
  throw new Error(`${left.join(", ")} must be set (unset or at its public development default) with ${why}`);
}

// One reader per group.

function readHttp(env: Env): HttpConfig {
  const port = int(env, "PORT", 3000, 0, 65535);
  return {
    host: str(env, "HOST", "127.0.0.1"),
    port,
    metricsListen: given(env, "METRICS_PORT")
      ? { host: str(env, "METRICS_HOST", "127.0.0.1"), port: int(env, "METRICS_PORT", 0, 0, 65535) }
      : null,
    publicUrl: str(env, "PUBLIC_URL", `http://127.0.0.1:${port}`),
    shutdownDrainMs: int(env, "SHUTDOWN_DRAIN_SECONDS", 10, 0, 600) * 1000,
    adminToken: str(env, "ADMIN_TOKEN", DEV_SECRETS.ADMIN_TOKEN),
    workers: int(env, "WEB_WORKERS", 1, 1, WEB_WORKERS_MAX),
    workersGiven: given(env, "WEB_WORKERS"),
  };
}

function readRedis(env: Env): RedisConfig {
  return {
    url: str(env, "REDIS_URL", "redis://127.0.0.1:6379"),
    clusterNodes: hostPorts(env, "REDIS_CLUSTER_NODES"),
    urlGiven: given(env, "REDIS_URL"),
    commandTimeoutMs: int(env, "REDIS_COMMAND_TIMEOUT_MS", 2000, 50, 60_000),
    confirmWait: {
      replicas: int(env, "REDIS_CONFIRM_WAIT_REPLICAS", 0, 0, 16),
      timeoutMs: int(env, "REDIS_CONFIRM_WAIT_MS", 100, 1, 10_000),
    },
  };
}

function readPostgres(env: Env): PostgresConfig {
  const url = str(env, "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/onsale");
  return {
    url,
    readUrl: str(env, "DATABASE_READ_URL", url),
    urlGiven: given(env, "DATABASE_URL"),
    readUrlGiven: given(env, "DATABASE_READ_URL"),
    bossSchema: identifier(env, "PGBOSS_SCHEMA", "pgboss"),
  };
}

function readHolds(env: Env): HoldsConfig {
  const retentionS = int(env, "BOOKING_RETENTION_SECONDS", 7 * 86_400, 60, 365 * 86_400);
  return {
    holdMs: int(env, "HOLD_SECONDS", 300, 1, HOLD_SECONDS_MAX) * 1000,
    reclaimMax: int(env, "RECLAIM_MAX", 100, 1, 10_000),
    serveMax: int(env, "SERVE_MAX", 100, 1, 10_000),
    retentionMs: retentionS * 1000,
    unpaidRetentionMs: int(env, "UNPAID_RETENTION_SECONDS", Math.min(3600, retentionS), 60, retentionS) * 1000,
    idempotencyTtlMs: int(env, "IDEMPOTENCY_TTL_SECONDS", 86_400, 60, 30 * 86_400) * 1000,
    sweepIntervalMs: int(env, "SWEEP_INTERVAL_MS", 1000, 50, 60_000),
    sweepIdleIntervalMs: int(env, "SWEEP_IDLE_INTERVAL_MS", 1000, 50, 60_000),
    batch: {
      enabled: onOff(env, "HOLD_BATCH", false),
      max: int(env, "HOLD_BATCH_MAX", 64, 1, 1000),
      waitUs: int(env, "HOLD_BATCH_WAIT_US", 0, 0, 100_000),
    },
  };
}

function readRelay(env: Env): RelayConfig {
  const batch = int(env, "RELAY_BATCH", 500, 1, 10_000);
  return {
    intervalMs: int(env, "RELAY_INTERVAL_MS", 200, 10, 60_000),
    idleIntervalMs: int(env, "RELAY_IDLE_INTERVAL_MS", 1000, 10, 60_000),
    batch,
    batchMax: Math.max(batch, int(env, "RELAY_BATCH_MAX", 5000, 1, 50_000)),
    maxAttempts: int(env, "RELAY_MAX_ATTEMPTS", 5, 1, 1000),
  };
}

function readPayments(env: Env, http: HttpConfig): PaymentsConfig {
  const provider = str(env, "PAYMENT_PROVIDER", "mock") as PaymentProviderName;
  if (!PAYMENT_PROVIDER_NAMES.includes(provider)) {
    throw new Error(`PAYMENT_PROVIDER must be one of ${PAYMENT_PROVIDER_NAMES.join(", ")}, got "${provider}"`);
  }
  refuseDevSecrets(env, provider);
  return {
    provider,
    stripe: {
      secretKey: str(env, "STRIPE_SECRET_KEY", DEV_SECRETS.STRIPE_SECRET_KEY),
      webhookSecret: str(env, "STRIPE_WEBHOOK_SECRET", DEV_SECRETS.STRIPE_WEBHOOK_SECRET),
    },
    mock: {
      // Loopback unless asked: the mock gateway pays for anything on request.
      host: str(env, "MOCK_GATEWAY_HOST", "127.0.0.1"),
      port: int(env, "MOCK_GATEWAY_PORT", http.port === 0 ? 0 : http.port + 1, 0, 65535),
      webhookSecret: str(env, "MOCK_WEBHOOK_SECRET", "whsec_mock_gateway_local_only"),
      webhookUrl: str(env, "MOCK_WEBHOOK_URL", `${http.publicUrl}/webhooks/stripe`),
    },
    repairAfterMs: int(env, "PAYMENT_REPAIR_AFTER_SECONDS", 60, 1, 86_400) * 1000,
    repairIntervalMs: int(env, "PAYMENT_REPAIR_INTERVAL_MS", 10_000, 100, 600_000),
    checkoutCloseGraceMs: int(env, "CHECKOUT_CLOSE_GRACE_SECONDS", 10, 0, 3600) * 1000,
  };
}

function readMail(env: Env): MailConfig {
  return {
    smtpUrl: str(env, "SMTP_URL", ""),
    from: str(env, "MAIL_FROM", "On-sale tickets <tickets@onsale.localhost>"),
    dir: str(env, "MAIL_DIR", ".data/mail"),
    reminderOffsetsMs: offsets(env, "REMINDER_OFFSETS", "24h,1h"),
  };
}

function readSearch(env: Env): SearchConfig {
  return {
    limitDefault: int(env, "SEARCH_LIMIT_DEFAULT", 20, 1, 1000),
    limitMax: int(env, "SEARCH_LIMIT_MAX", 100, 1, 1000),
    textChars: 200,
    cacheMs: int(env, "SEARCH_CACHE_MS", 2000, 0, 60_000),
    wordSimilarityPct: int(env, "SEARCH_WORD_SIMILARITY_PCT", 40, 1, 100),
    typesenseUrl: str(env, "TYPESENSE_URL", ""),
    typesenseApiKey: str(env, "TYPESENSE_API_KEY", "xyz"),
    typesenseCollection: identifier(env, "TYPESENSE_COLLECTION", "events"),
    reindexBatch: int(env, "SEARCH_REINDEX_BATCH", 1000, 1, 40_000),
  };
}

function readAntiBot(env: Env): AntiBotConfig {
  return {
    trustProxy: int(env, "TRUST_PROXY", 0, 0, TRUST_PROXY_MAX),
    powSecret: str(env, "POW_SECRET", DEV_SECRETS.POW_SECRET),
    powTtlMs: int(env, "POW_TTL_SECONDS", 120, 10, 3600) * 1000,
    rateIpPerS: int(env, "RATE_IP_PER_S", 50, 1, 1_000_000),
    rateIpBurst: int(env, "RATE_IP_BURST", 100, 1, 10_000_000),
    rateUserPerS: int(env, "RATE_USER_PER_S", 2, 1, 1_000_000),
    rateUserBurst: int(env, "RATE_USER_BURST", 5, 1, 10_000_000),
    userTokens: readUserTokens(env),
    ipBookingsMax: int(env, "IP_BOOKINGS_MAX", 1000, 1, 10_000_000),
  };
}

/** Shortest USER_TOKEN_SECRET: an HS256 key under 256 bits can be guessed offline from one token. */
const USER_TOKEN_SECRET_MIN_CHARS = 32;

function readUserTokens(env: Env): UserTokenSettings {
  const secret = str(env, "USER_TOKEN_SECRET", "");
  const jwksUrl = str(env, "USER_TOKEN_JWKS_URL", "");
  if (secret !== "" && secret.length < USER_TOKEN_SECRET_MIN_CHARS) {
    throw new Error(`USER_TOKEN_SECRET must be at least ${USER_TOKEN_SECRET_MIN_CHARS} characters`);
  }
  if (secret !== "" && jwksUrl !== "") throw new Error("set USER_TOKEN_SECRET or USER_TOKEN_JWKS_URL, not both");
  if (jwksUrl !== "" && !/^https?:\/\//.test(jwksUrl))
    throw new Error(`USER_TOKEN_JWKS_URL must be an http(s) URL, got "${jwksUrl}"`);
  return { secret, jwksUrl, maxAgeS: int(env, "USER_TOKEN_MAX_AGE_SECONDS", 300, 10, 86_400) };
}

function readLimits(env: Env): Limits {
  return {
    bodyBytes: int(env, "MAX_BODY_BYTES", 16 * 1024, 256, 1024 * 1024),
    quantityMax: int(env, "MAX_QUANTITY", 10, 1, 100),
    userIdChars: 128,
    idempotencyKeyChars: 255,
    emailChars: 254,
    lineMax: int(env, "LINE_MAX", 1_000_000, 1, 100_000_000),
    capacityMax: 10_000_000,
    priceMax: 100_000_000,
    textChars: 200,
    liveSocketsMax: int(env, "LIVE_SOCKETS_MAX", 100_000, 1, 10_000_000),
    liveSocketsPerBooking: int(env, "LIVE_SOCKETS_PER_BOOKING", 10, 1, 10_000),
    liveSocketsPerIp: int(env, "LIVE_SOCKETS_PER_IP", 200, 1, 10_000_000),
    liveRefreshMs: int(env, "LIVE_REFRESH_MS", 50, 0, 10_000),
    liveHeadPositions: int(env, "LIVE_HEAD_POSITIONS", 100, 0, 10_000_000),
    livePositionIntervalMs: int(env, "LIVE_POSITION_INTERVAL_MS", 1000, 0, 60_000),
    livePositionStepPercent: int(env, "LIVE_POSITION_STEP_PERCENT", 1, 0, 100),
    liveIdleSeconds: int(env, "LIVE_IDLE_SECONDS", 60, 8, 960),
    powBitsMax: 28,
    holdSecondsMax: HOLD_SECONDS_MAX,
    soldOutMemoMs: int(env, "SOLD_OUT_MEMO_MS", 1000, 0, 60_000),
  };
}

export function loadConfig(env: Env = process.env): Config {
  const http = readHttp(env);
  const payments = readPayments(env, http);
  return {
    http,
    redis: readRedis(env),
    postgres: readPostgres(env),
    holds: readHolds(env),
    relay: readRelay(env),
    payments,
    mail: readMail(env),
    search: readSearch(env),
    antiBot: readAntiBot(env),
    limits: readLimits(env),
    logLevel: str(env, "LOG_LEVEL", "info"),
  };
}
