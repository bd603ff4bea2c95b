import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { WebSocket } from "undici";
import { liveUpgradeStatus } from "../testkit/live.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningEngine } from "../bin/app.js";
import { api, startTestEngine, waitFor, type Api } from "./helpers.js";
import { startRedis, type RedisServer } from "./faults/support.js";

// The live channel must not amplify load: a forged token costs no stream read, sockets are
// capped per booking and per client address, and a change costs one booking read however many
// sockets follow that booking. Counted with INFO commandstats on a redis-server of this test's
// own, so no other test's commands mix in.

const PER_BOOKING = 60;
const PER_IP = 120;

let redis: RedisServer;
let stats: Redis;
let running: RunningEngine;
let client: Api;

beforeAll(async () => {
  redis = await startRedis();
  stats = new Redis(redis.url);
  running = await startTestEngine({
    REDIS_URL: redis.url,
    LIVE_SOCKETS_PER_BOOKING: String(PER_BOOKING),
    LIVE_SOCKETS_PER_IP: String(PER_IP),
  });
  client = api(running);
});
afterAll(async () => {
  await running?.stop();
  stats?.disconnect();
  await redis?.stop();
});

/** Calls so far of each command INFO commandstats lists. */
async function commandCalls(): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const match of (await stats.info("commandstats")).matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm))
    calls.set(match[1]!, Number(match[2]));
  return calls;
}

function callsSince(before: Map<string, number>, after: Map<string, number>, commands: string[]): number {
  return commands.reduce((sum, name) => sum + (after.get(name) ?? 0) - (before.get(name) ?? 0), 0);
}

const SCRIPT_COMMANDS = ["evalsha", "eval", "evalsha_ro", "eval_ro", "fcall"];
const STREAM_READS = ["xread", "xrevrange", "xrange"];

interface Socket {
  ws: WebSocket;
  messages: { type: string; status: string }[];
}

function openSocket(id: string, token: string): Promise<Socket> {
  const ws = new WebSocket(
    `ws://127.0.0.1:${running.http!.port}/live?booking=${id}&token=${encodeURIComponent(token)}`,
  );
  const socket: Socket = { ws, messages: [] };
  ws.addEventListener("message", (event) => socket.messages.push(JSON.parse(String(event.data))));
  return new Promise((resolve, reject) => {
    ws.addEventListener("open", () => resolve(socket));
    ws.addEventListener("error", () => reject(new Error("websocket refused")));
  });
}

/** The HTTP status a WebSocket upgrade is answered with (101 when accepted). */
function upgradeStatus(id: string, token: string): Promise<number> {
  return liveUpgradeStatus(running.http!.port, id, token);
}

describe("live channel limits", () => {
  const sockets: Socket[] = [];
  afterAll(() => {
    for (const socket of sockets) socket.ws.close();
  });

  it("a change costs one booking read however many sockets follow the booking", async () => {
    const eventId = await client.eventId({ capacity: 1 });
    const held = await client.book(eventId, "live-held");
    const waiting = await client.book(eventId, "live-waiting");
    expect(waiting.status).toBe(202);
    for (let i = 0; i < 50; i++) sockets.push(await openSocket(waiting.body.id, waiting.body.token));
    await waitFor(
      async () => sockets.every((s) => s.messages.length > 0),
      (done) => done,
      10_000,
    );

    const before = await commandCalls();
    expect((await client.cancel(held.body.id, held.body.token)).status).toBe(200);
    await waitFor(
      async () => sockets.every((s) => s.messages.some((m) => m.type === "turn")),
      (done) => done,
      10_000,
    );
    const after = await commandCalls();
    // The cancel itself, and one read of the booking the 50 sockets follow.
    expect(callsSince(before, after, SCRIPT_COMMANDS)).toBeLessThanOrEqual(3);
  });

  it("caps sockets per booking and per client address", async () => {
    const eventId = await client.eventId({ capacity: 10 });
    const first = await client.book(eventId, "live-cap-1");
    const second = await client.book(eventId, "live-cap-2");
    for (let i = 0; i < PER_BOOKING; i++) sockets.push(await openSocket(first.body.id, first.body.token));
    expect(await upgradeStatus(first.body.id, first.body.token)).toBe(429);
    // 50 sockets from the first test and 60 here: 10 more reach the address's cap.
    for (let i = sockets.length; i < PER_IP; i++) sockets.push(await openSocket(second.body.id, second.body.token));
    expect(await upgradeStatus(second.body.id, second.body.token)).toBe(429);
    // Closing sockets frees their places.
    sockets.pop()!.ws.close();
    await waitFor(
      () => upgradeStatus(second.body.id, second.body.token),
      (status) => status === 101,
      5000,
    );
  });

  it("a forged token costs no stream read", async () => {
    for (const socket of sockets.splice(0)) socket.ws.close();
    const eventId = await client.eventId({ capacity: 10 });
    const booking = await client.book(eventId, "live-forged");
    // Nothing followed any more: the log reader has stopped.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = await commandCalls();
    for (let i = 0; i < 20; i++) {
      const forged = `${eventId}.${randomBytes(32).toString("base64url")}`;
      expect(await upgradeStatus(booking.body.id, forged)).toBe(404);
    }
    const after = await commandCalls();
    expect(callsSince(before, after, STREAM_READS)).toBe(0);
  });

  it("moving the line costs the same Redis calls with 1 or 40 sockets waiting: no read per socket", async () => {
    /** Opens one socket on each of the last `followed` of 41 waiting people, then serves 5 of them one by one. */
    async function movements(followed: number): Promise<{ scripts: number; other: number }> {
      const eventId = await client.eventId({ capacity: 1 });
      let holder = (await client.book(eventId, `move-${followed}-holder`)).body;
      const waiting = [];
      for (let n = 0; n < 41; n++) waiting.push((await client.book(eventId, `move-${followed}-${n}`)).body);
      const open: Socket[] = [];
      for (const b of waiting.slice(-followed)) open.push(await openSocket(b.id, b.token));
      await waitFor(
        async () => open.every((s) => s.messages.length > 0),
        (done) => done,
        10_000,
      );
      const before = await commandCalls();
      for (let n = 0; n < 5; n++) {
        expect((await client.cancel(holder.id, holder.token)).status).toBe(200);
        holder = waiting[n];
      }
      // Every socket has been sent its place after the fifth move (41 - 5).
      const last = open.at(-1)!;
      await waitFor(
        async () => last.messages.some((m) => (m as { position?: number }).position === 36),
        (done) => done,
        10_000,
      );
      const after = await commandCalls();
      for (const s of open) s.ws.close();
      const all = [...after.keys()].filter((name) => name !== "info");
      const scripts = callsSince(before, after, SCRIPT_COMMANDS);
      return { scripts, other: callsSince(before, after, all) - scripts };
    }
    const one = await movements(1);
    const forty = await movements(40);
    // The five cancels (and a sweep or two); no lookup, ZRANK or HGET per waiting socket.
    expect(forty.scripts).toBeLessThanOrEqual(one.scripts + 2);
    expect(forty.scripts).toBeLessThan(5 + 10);
    expect(forty.other).toBeLessThanOrEqual(one.other + 10);
  });
});
