import { afterAll, describe, expect, it } from "vitest";
import { Agent, request } from "node:http";
import { rateIpKey } from "../engine/keys.js";
import { solve } from "../engine/pow.js";
import { api, checkInvariant, startTestEngine, useTestEngine } from "./helpers.js";

// Anti-bot limits with real HTTP clients, at the settings' real defaults: token buckets per
// client IP and per userId (429 + Retry-After), the line cap, and the proof-of-work gate.

const LIMITS = { RATE_IP_PER_S: "50", RATE_IP_BURST: "100", RATE_USER_PER_S: "2", RATE_USER_BURST: "5", LINE_MAX: "3" };
const ctx = useTestEngine(LIMITS);
const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const close of closers) await close();
});

/** A keep-alive client whose connections leave from the given loopback address (Linux routes all of 127/8 to lo). */
function clientFrom(localAddress: string): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 64, localAddress });
  closers.push(async () => agent.destroy());
  return agent;
}

function book(
  port: number,
  agent: Agent,
  body: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, any>; headers: Record<string, unknown> }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/bookings",
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            body: JSON.parse(Buffer.concat(chunks).toString()),
            headers: res.headers,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

describe("rate limits per client IP and per user", () => {
  it("throttles 10,000 bookings from one IP while another IP is served normally", async () => {
    const port = ctx.running.http!.port;
    const eventId = await ctx.client.eventId({ capacity: 1_000_000, maxPerUser: 1 });
    const bot = clientFrom("127.0.0.1");
    const person = clientFrom("127.0.0.2");
    const botStatuses = new Map<number, number>();
    let retryAfterOk = true;
    const startedMs = Date.now();
    let next = 0;
    const botWorker = async () => {
      while (next < 10_000) {
        const n = next++;
        const answer = await book(port, bot, { eventId, userId: `bot-${n}`, quantity: 1 });
        botStatuses.set(answer.status, (botStatuses.get(answer.status) ?? 0) + 1);
        if (answer.status === 429)
          retryAfterOk &&= Number(answer.headers["retry-after"]) >= 1 && answer.body.type === "/problems/rate-limited";
      }
    };
    const personStatuses: number[] = [];
    let personBucketSeen = 0;
    const honest = async () => {
      // Ten people behind another address book one after another while the flood runs.
      for (let n = 0; n < 10; n++) {
        personStatuses.push((await book(port, person, { eventId, userId: `person-${n}`, quantity: 1 })).status);
        // The server keyed them on their own address.
        if (n === 0) personBucketSeen = await ctx.running.engine.redis.exists(rateIpKey(eventId, "127.0.0.2"));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    // A few connections are enough to outrun the bucket many times over; more would only take
    // CPU from the test files running beside this one.
    await Promise.all([...Array.from({ length: 6 }, botWorker), honest()]);
    const elapsedS = (Date.now() - startedMs) / 1000;
    const admitted = botStatuses.get(201) ?? 0;
    console.log(
      `10,000 bot bookings in ${elapsedS.toFixed(1)} s: ${JSON.stringify(Object.fromEntries(botStatuses))}; other IP: ${personStatuses.join(",")}`,
    );

    expect(personStatuses).toEqual(Array(10).fill(201));
    // At most the burst plus the refill over the run got through.
    expect(admitted).toBeLessThanOrEqual(100 + Math.ceil(50 * elapsedS) + 1);
    expect(admitted).toBeGreaterThanOrEqual(100);
    expect(botStatuses.get(429)).toBe(10_000 - admitted);
    expect(retryAfterOk).toBe(true);
    expect(personBucketSeen).toBe(1);
    const tally = await checkInvariant(ctx.running.engine, eventId);
    expect(tally.held).toBe(admitted + 10);
  });

  it("limits one userId to its burst, then answers 429 with Retry-After", async () => {
    const eventId = await ctx.client.eventId({ capacity: 100 });
    const statuses: number[] = [];
    const startedMs = Date.now();
    let last: Awaited<ReturnType<typeof ctx.client.book>> | undefined;
    while (statuses.length < 50 && last?.status !== 429) {
      last = await ctx.client.book(eventId, "eager-user");
      statuses.push(last.status);
    }
    // The first holds, the next ones are refused for the open booking, until the bucket (5, plus
    // 2 a second refilled while they ran) is empty.
    const refilled = Math.ceil(((Date.now() - startedMs) / 1000) * 2);
    expect(statuses[0]).toBe(201);
    expect(statuses.slice(1, -1).every((status) => status === 409)).toBe(true);
    expect(statuses.length - 1).toBeGreaterThanOrEqual(5);
    expect(statuses.length - 1).toBeLessThanOrEqual(5 + refilled);
    expect(last!.contentType).toBe("application/problem+json");
    expect(last!.body).toMatchObject({ type: "/problems/rate-limited", limit: "RATE_USER_PER_S" });
    expect(Number(last!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("ignores X-Forwarded-For unless TRUST_PROXY=N, then keys the bucket on the entry N hops from the right", async () => {
    // Two requests per address, refilled at one a second: the third in a row is refused.
    const trusting = await startTestEngine({ ...LIMITS, RATE_IP_PER_S: "1", RATE_IP_BURST: "2", TRUST_PROXY: "1" });
    closers.push(() => trusting.stop());
    const proxied = api(trusting);
    const eventId = await proxied.eventId({ capacity: 100 });
    // The one proxy appends the address it saw; whatever the client wrote before it is not trusted.
    const from = (written: string, seen: string, user: string) =>
      proxied.book(eventId, user, 1, { "X-Forwarded-For": `${written}, ${seen}` });
    expect((await from("192.0.2.1", "203.0.113.7", "xff-1")).status).toBe(201);
    expect((await from("192.0.2.2", "203.0.113.7", "xff-2")).status).toBe(201);
    expect((await from("192.0.2.3", "203.0.113.7", "xff-3")).status).toBe(429);
    expect((await from("192.0.2.3", "198.51.100.9", "xff-4")).status).toBe(201);
    expect(await trusting.engine.redis.exists(rateIpKey(eventId, "192.0.2.1"))).toBe(0);

    // Two proxies: the entry two from the right is the client's; the right-most is the first proxy.
    const twoHops = await startTestEngine({ ...LIMITS, TRUST_PROXY: "2" });
    closers.push(() => twoHops.stop());
    const behindTwo = api(twoHops);
    const twoHopsEvent = await behindTwo.eventId({ capacity: 100 });
    await behindTwo.book(twoHopsEvent, "xff-5", 1, { "X-Forwarded-For": "192.0.2.50, 203.0.113.20, 10.0.0.2" });
    expect(await twoHops.engine.redis.exists(rateIpKey(twoHopsEvent, "203.0.113.20"))).toBe(1);
    expect(await twoHops.engine.redis.exists(rateIpKey(twoHopsEvent, "192.0.2.50"))).toBe(0);

    // Without TRUST_PROXY a spoofed header changes nothing: the socket's address is the key.
    const plainEvent = await ctx.client.eventId({ capacity: 100 });
    await ctx.client.book(plainEvent, "spoof-1", 1, { "X-Forwarded-For": "203.0.113.99" });
    expect(await ctx.running.engine.redis.exists(rateIpKey(plainEvent, "203.0.113.99"))).toBe(0);
    expect(await ctx.running.engine.redis.exists(rateIpKey(plainEvent, "127.0.0.1"))).toBe(1);
  });
});

describe("the gate is part of the hold", () => {
  it("a booking for an event that does not exist is 404 and leaves no bucket behind", async () => {
    const unknown = "0190a000-0000-7000-8000-000000000001";
    const answer = await ctx.client.book(unknown, "nobody-1");
    expect(answer.status).toBe(404);
    expect(await ctx.running.engine.redis.exists(rateIpKey(unknown, "127.0.0.1"))).toBe(0);
  });
});

describe("per-person limits and the line cap", () => {
  it("refuses past the per-person ticket limit and past LINE_MAX people waiting", async () => {
    const eventId = await ctx.client.eventId({ capacity: 1, maxPerUser: 2 });
    const tooMany = await ctx.client.book(eventId, "greedy", 3);
    expect(tooMany.status).toBe(409);
    expect(tooMany.body).toMatchObject({ type: "/problems/per-person-limit", remaining: 2 });
    expect((await ctx.client.book(eventId, "holder")).status).toBe(201);
    for (const user of ["w1", "w2", "w3"]) expect((await ctx.client.book(eventId, user)).status).toBe(202);
    const full = await ctx.client.book(eventId, "w4");
    expect(full.status).toBe(409);
    expect(full.body.type).toBe("/problems/line-full");
    const tally = await checkInvariant(ctx.running.engine, eventId);
    expect(tally.waiting).toBe(3);
  });
});

describe("proof-of-work gate", () => {
  it("asks a protected event's bookings for a solved, fresh, single-use challenge", async () => {
    const eventId = await ctx.client.eventId({ capacity: 10, powBits: 12 });
    const bare = await ctx.client.book(eventId, "pow-bare");
    expect(bare.status).toBe(403);
    expect(bare.body).toMatchObject({ type: "/problems/proof-of-work-required", difficultyBits: 12 });

    const issued = await ctx.client.request("GET", `/events/${eventId}/challenge`);
    expect(issued.status).toBe(200);
    expect(issued.body.difficultyBits).toBe(12);
    const { challenge } = issued.body;
    const solution = solve(challenge, 12);
    const withProof = (userId: string, body: Record<string, unknown>) =>
      ctx.client.request("POST", "/bookings", { body: { eventId, userId, quantity: 1, ...body } });

    expect((await withProof("pow-wrong", { powChallenge: challenge, powSolution: "not-it" })).body.type).toBe(
      "/problems/proof-of-work-invalid",
    );
    const forged = challenge.replace(".12.", ".0.");
    expect((await withProof("pow-forged", { powChallenge: forged, powSolution: "0" })).body.type).toBe(
      "/problems/proof-of-work-invalid",
    );
    const good = await withProof("pow-good", { powChallenge: challenge, powSolution: solution });
    expect(good.status).toBe(201);
    const replayed = await withProof("pow-replay", { powChallenge: challenge, powSolution: solution });
    expect(replayed.status).toBe(403);
    expect(replayed.body.type).toBe("/problems/proof-of-work-reused");

    // A challenge of another event is worth nothing here.
    const otherEvent = await ctx.client.eventId({ capacity: 10, powBits: 1 });
    const foreign = (await ctx.client.request("GET", `/events/${otherEvent}/challenge`)).body.challenge;
    expect((await withProof("pow-foreign", { powChallenge: foreign, powSolution: solve(foreign, 12) })).body.type).toBe(
      "/problems/proof-of-work-invalid",
    );

    // Turning it off (PATCH powBits 0) lets bookings through without proof.
    const patched = await ctx.client.request("PATCH", `/admin/events/${eventId}`, {
      headers: { Authorization: "Bearer test-admin-token" },
      body: { powBits: 0 },
    });
    expect(patched.status).toBe(200);
    expect((await ctx.client.book(eventId, "pow-off")).status).toBe(201);
    await checkInvariant(ctx.running.engine, eventId);
  });
});
