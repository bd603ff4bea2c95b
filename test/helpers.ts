import Stripe from "stripe";
import { afterAll, beforeAll, inject } from "vitest";
import { startEngine, type Roles, type RunningEngine } from "../bin/app.js";
import { loadConfig } from "../engine/config.js";
import { bookingKey, eventKey, holdsKey, lineKey } from "../engine/keys.js";
import type { Engine } from "../engine/engine.js";

export const ADMIN_TOKEN = "test-admin-token";
export const WEBHOOK_SECRET = "whsec_test_secret";

export async function startTestEngine(env: Record<string, string> = {}, roles: Partial<Roles> = {}): Promise<RunningEngine> {
  const config = loadConfig({
    PORT: "0",
    MOCK_GATEWAY_PORT: "0",
    LOG_LEVEL: "silent",
    ADMIN_TOKEN,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    REDIS_URL: inject("redisUrl"),
    DATABASE_URL: inject("databaseUrl"),
    ...env,
  });
  return startEngine(config, { serve: true, work: false, gateway: true, ...roles });
}

export interface Answer {
  status: number;
  contentType: string;
  body: any;
  headers: Headers;
}

export class Api {
  constructor(readonly base: string) {}

  async request(method: string, path: string, init: { body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...init.headers };
    let body: string | undefined = init.raw;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers["Content-Type"] ??= "application/json";
    }
    const response = await fetch(this.base + path, { method, headers, body, redirect: "manual" });
    const text = await response.text();
    const contentType = response.headers.get("content-type") ?? "";
    return { status: response.status, contentType, body: contentType.includes("json") ? JSON.parse(text) : text, headers: response.headers };
  }

  createEvent(fields: Record<string, unknown> = {}): Promise<Answer> {
    return this.request("POST", "/admin/events", {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      body: {
        name: "Test Tour",
        venue: "Test Arena",
        startsAt: "2027-06-01T20:00:00+02:00",
        timeZone: "Europe/Paris",
        capacity: 10,
        price: 5000,
        currency: "EUR",
        maxPerUser: 4,
        ...fields,
      },
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
    const signature = signer.webhooks.generateTestHeaderString({ payload, secret });
    return this.request("POST", "/webhooks/stripe", { raw: payload, headers: { "Content-Type": "application/json", "Stripe-Signature": signature } });
  }
}

const signer = new Stripe("sk_test_signer");
let eventCounter = 0;

export function completedEvent(booking: { id: string; eventId: string }, amount: number, currency = "eur", sessionId = `cs_test_${booking.id}`) {
  eventCounter += 1;
  return {
    id: `evt_test_${Date.now()}_${eventCounter}`,
    object: "event",
    type: "checkout.session.completed",
    created: Math.floor(Date.now() / 1000),
    data: {
      object: {
        id: sessionId,
        object: "checkout.session",
        amount_total: amount,
        currency,
        payment_status: "paid",
        status: "complete",
        client_reference_id: booking.id,
        metadata: { bookingId: booking.id, eventId: booking.eventId },
      },
    },
  };
}

export const api = (running: RunningEngine) => new Api(`http://127.0.0.1:${running.http!.port}`);

/** Starts an engine before the file's tests and stops it after; read its fields inside tests. */
export function useTestEngine(env: Record<string, string> = {}): { running: RunningEngine; client: Api } {
  const context = {} as { running: RunningEngine; client: Api };
  beforeAll(async () => {
    context.running = await startTestEngine(env);
    context.client = api(context.running);
  });
  afterAll(() => context.running.stop());
  return context;
}

export interface Tally {
  instock: number;
  capacity: number;
  held: number;
  paid: number;
  waiting: number;
}

/**
 * Recounts an event from its booking hashes, not from its counters, and checks
 * instock + Σ held + Σ paid == capacity, every term ≥ 0, the counters agreeing with the
 * recount, and the hold index and line naming exactly the held and waiting bookings.
 */
export async function checkInvariant(engine: Engine, eventId: string): Promise<Tally> {
  const redis = engine.redis;
  const event = await redis.hgetall(eventKey(eventId));
  const prefix = bookingKey(eventId, "");
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", `${prefix.replace(/[{}]/g, "\\$&")}*`, "COUNT", 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== "0");
  const tally: Tally = { instock: Number(event.instock), capacity: Number(event.capacity), held: 0, paid: 0, waiting: 0 };
  const heldIds = new Set<string>();
  const waitingIds = new Set<string>();
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.hmget(key, "state", "qty");
  const fields = (await pipeline.exec()) ?? [];
  for (const [index, key] of keys.entries()) {
    const [state, qty] = fields[index]![1] as [string | null, string | null];
    const id = key.slice(prefix.length);
    if (state === "held") {
      tally.held += Number(qty);
      heldIds.add(id);
    } else if (state === "paid") tally.paid += Number(qty);
    else if (state === "waiting") {
      tally.waiting += 1;
      waitingIds.add(id);
    }
  }
  const problems: string[] = [];
  if (tally.instock < 0) problems.push(`instock ${tally.instock} < 0`);
  if (tally.instock + tally.held + tally.paid !== tally.capacity) {
    problems.push(`instock ${tally.instock} + held ${tally.held} + paid ${tally.paid} != capacity ${tally.capacity}`);
  }
  if (Number(event.held) !== tally.held || Number(event.paid) !== tally.paid) {
    problems.push(`counters held ${event.held} paid ${event.paid} disagree with bookings ${tally.held}/${tally.paid}`);
  }
  const holds = new Set(await redis.zrange(holdsKey(eventId), 0, -1));
  const line = new Set(await redis.zrange(lineKey(eventId), 0, -1));
  if (holds.size !== heldIds.size || [...heldIds].some((id) => !holds.has(id))) problems.push("hold index differs from held bookings");
  if (line.size !== waitingIds.size || [...waitingIds].some((id) => !line.has(id))) problems.push("line differs from waiting bookings");
  if (problems.length > 0) throw new Error(`invariant broken for event ${eventId}: ${problems.join("; ")}`);
  return tally;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
