import fc from "fast-check";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, expect, inject } from "vitest";
import { startEngine, type Roles, type RunningEngine } from "../bin/app.js";
import { loadConfig } from "../engine/config.js";
import type { Logger } from "../engine/logger.js";
import { eventFields } from "../testkit/fixtures.js";
import { sleep } from "../testkit/processes.js";
import { checkoutCompleted, stripeSignature } from "../testkit/webhooks.js";

export const ADMIN_TOKEN = "test-admin-token";

// The mutation runner (test/mutants/run.ts) only needs to see a property fail, not its
// smallest counterexample, so it skips shrinking.
if (process.env.MUTANT_RUN === "1") fc.configureGlobal({ endOnFailure: true });
export const WEBHOOK_SECRET = "whsec_test_secret";

export async function startTestEngine(
  env: Record<string, string> = {},
  roles: Partial<Roles> = {},
  log?: Logger,
): Promise<RunningEngine> {
  const config = loadConfig({
    PORT: "0",
    MOCK_GATEWAY_PORT: "0",
    LOG_LEVEL: "silent",
    ADMIN_TOKEN,
    MOCK_WEBHOOK_SECRET: WEBHOOK_SECRET,
    REDIS_URL: inject("redisUrl"),
    // Set, the engine runs on that Redis Cluster (.ci/redis-cluster) instead of REDIS_URL.
    REDIS_CLUSTER_NODES: process.env.REDIS_CLUSTER_NODES ?? "",
    DATABASE_URL: inject("databaseUrl"),
    // Each test file its own queues, so a job is run by an engine of the file that queued it
    // (each file has its own mock gateway), never left over for the next file.
    PGBOSS_SCHEMA: bossSchemaOfThisFile(),
    // Bursts from one loopback client are these tests' point; test/antibot.test.ts sets real limits.
    RATE_IP_PER_S: "1000000",
    RATE_IP_BURST: "10000000",
    RATE_USER_PER_S: "1000000",
    RATE_USER_BURST: "10000000",
    IP_BOOKINGS_MAX: "10000000",
    // Without SMTP_URL the work role's local mail sink keeps messages here, not in the worktree.
    MAIL_DIR: join(tmpdir(), `onsale-test-mail-${process.env.VITEST_POOL_ID ?? "0"}`),
    ...env,
  });
  return startEngine(config, { serve: true, work: false, gateway: true, ...roles }, log);
}

/** pg-boss schemas are named after their test file; test/globalSetup.ts drops them before a run. */
export const TEST_BOSS_SCHEMA_PREFIX = "pgboss_test_";

function bossSchemaOfThisFile(): string {
  const file = basename(expect.getState().testPath ?? "unknown").replace(/\.test\.ts$/, "");
  return (TEST_BOSS_SCHEMA_PREFIX + file.replace(/[^A-Za-z0-9]/g, "_")).toLowerCase().slice(0, 63);
}

export interface Answer {
  status: number;
  contentType: string;
  body: any;
  headers: Headers;
}

export class Api {
  constructor(readonly base: string) {}

  async request(
    method: string,
    path: string,
    init: { body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...init.headers };
    let body: string | undefined = init.raw;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers["Content-Type"] ??= "application/json";
    }
    const response = await fetch(this.base + path, { method, headers, body, redirect: "manual" });
    const text = await response.text();
    const contentType = response.headers.get("content-type") ?? "";
    return {
      status: response.status,
      contentType,
      body: contentType.includes("json") ? JSON.parse(text) : text,
      headers: response.headers,
    };
  }

  createEvent(fields: Record<string, unknown> = {}): Promise<Answer> {
    return this.request("POST", "/admin/events", {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      body: eventFields(fields),
    });
  }

  async eventId(fields: Record<string, unknown> = {}): Promise<string> {
    const answer = await this.createEvent(fields);
    if (answer.status !== 201) throw new Error(`event not created: ${JSON.stringify(answer.body)}`);
    return answer.body.id;
  }

  book(eventId: string, userId: string, quantity = 1, headers: Record<string, string> = {}): Promise<Answer> {
    return this.request("POST", "/bookings", { body: { eventId, userId, quantity }, headers });
  }

  get(id: string, token: string): Promise<Answer> {
    return this.request("GET", `/bookings/${id}`, { headers: { Authorization: `Bearer ${token}` } });
  }

  cancel(id: string, token: string): Promise<Answer> {
    return this.request("DELETE", `/bookings/${id}`, { headers: { Authorization: `Bearer ${token}` } });
  }

  /** Posts a webhook signed with the given secret, exactly as Stripe would. */
  webhook(event: Record<string, unknown>, secret = WEBHOOK_SECRET): Promise<Answer> {
    const payload = JSON.stringify(event);
    const signature = stripeSignature(payload, secret);
    return this.request("POST", "/webhooks/stripe", {
      raw: payload,
      headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
    });
  }
}

let eventCounter = 0;

/** A completed Checkout Session paying for the booking, under a new provider event id. */
export function completedEvent(
  booking: { id: string; eventId: string },
  amount: number,
  currency = "eur",
  sessionId = `cs_test_${booking.id}`,
) {
  eventCounter += 1;
  return checkoutCompleted({
    id: `evt_test_${Date.now()}_${eventCounter}`,
    bookingId: booking.id,
    eventId: booking.eventId,
    amount,
    currency,
    sessionId,
  });
}

export const api = (running: RunningEngine) => new Api(`http://127.0.0.1:${running.http!.port}`);

/** An engine and one event on it, for files whose tests share both. */
export async function startTestEngineWithEvent(
  fields: Record<string, unknown>,
): Promise<{ running: RunningEngine; client: Api; eventId: string }> {
  const running = await startTestEngine();
  const client = api(running);
  return { running, client, eventId: await client.eventId(fields) };
}

/** Starts an engine before the file's tests and stops it after; read its fields inside tests. */
export function useTestEngine(
  env: Record<string, string> | (() => Record<string, string>) = {},
  roles: Partial<Roles> = {},
): { running: RunningEngine; client: Api } {
  const context = {} as { running: RunningEngine; client: Api };
  beforeAll(async () => {
    context.running = await startTestEngine(typeof env === "function" ? env() : env, roles);
    context.client = api(context.running);
  });
  afterAll(() => context.running.stop());
  return context;
}

export { checkInvariant } from "../engine/audit.js";

export { sleep };

/** Polls until `read` returns something `done` accepts; fails with the last value after timeoutMs. */
export async function waitFor<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`still not there after ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await sleep(everyMs);
  }
}
