import { createServer, type Server } from "node:http";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningEngine } from "../bin/app.js";
import { api, startTestEngine, useTestEngine, type Api } from "./helpers.js";

// Signed identities: with USER_TOKEN_SECRET set, POST /bookings needs a short-lived token from
// the ticketing site naming the person (sub) and optionally the event; the per-person limit then
// holds per person, however many userIds one client types.

const SECRET = "test-user-token-secret-of-32-bytes!";
const MAX_AGE_S = 60;
const ctx = useTestEngine({ USER_TOKEN_SECRET: SECRET, USER_TOKEN_MAX_AGE_SECONDS: String(MAX_AGE_S) });

interface Claims {
  sub?: string;
  eventId?: string;
  iatS?: number;
  expS?: number;
}

function hs256(claims: Claims, secret = SECRET): Promise<string> {
  const nowS = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims.eventId === undefined ? {} : { eventId: claims.eventId })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt(claims.iatS ?? nowS)
    .setExpirationTime(claims.expS ?? nowS + MAX_AGE_S);
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  return jwt.sign(new TextEncoder().encode(secret));
}

function book(client: Api, eventId: string, body: Record<string, unknown>, token: string | null) {
  const headers: Record<string, string> = token === null ? {} : { Authorization: `Bearer ${token}` };
  return client.request("POST", "/bookings", { body: { eventId, quantity: 1, ...body }, headers });
}

describe("signed identities (USER_TOKEN_SECRET)", () => {
  it("names the person's open booking in a 409 only because the token proves who they are", async () => {
    const eventId = await ctx.client.eventId({ capacity: 10 });
    const token = await hs256({ sub: "carol", eventId });
    const first = await book(ctx.client, eventId, {}, token);
    expect(first.status).toBe(201);
    const second = await book(ctx.client, eventId, {}, token);
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ type: "/problems/open-booking-exists", bookingId: first.body.id });
  });

  it("refuses a missing, forged, expired, unsigned or other-event token, and a userId the token does not name", async () => {
    const eventId = await ctx.client.eventId({ capacity: 10 });
    const other = await ctx.client.eventId({ capacity: 10 });
    const nowS = Math.floor(Date.now() / 1000);
    const unsigned = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify({ sub: "ann", iat: nowS })).toString("base64url")}.`;
    const refusals: [string, string | null, Record<string, unknown>, number, string][] = [
      ["missing", null, { userId: "ann" }, 401, "/problems/user-token-required"],
      [
        "forged",
        await hs256({ sub: "ann" }, "another-secret-of-32-bytes-length!!"),
        { userId: "ann" },
        401,
        "/problems/user-token-invalid",
      ],
      [
        "expired",
        await hs256({ sub: "ann", iatS: nowS - 600, expS: nowS - 300 }),
        { userId: "ann" },
        401,
        "/problems/user-token-invalid",
      ],
      [
        "too old",
        await hs256({ sub: "ann", iatS: nowS - MAX_AGE_S - 30, expS: nowS + 3600 }),
        { userId: "ann" },
        401,
        "/problems/user-token-invalid",
      ],
      ["unsigned", unsigned, { userId: "ann" }, 401, "/problems/user-token-invalid"],
      ["no subject", await hs256({}), { userId: "ann" }, 401, "/problems/user-token-invalid"],
      [
        "other event",
        await hs256({ sub: "ann", eventId: other }),
        { userId: "ann" },
        403,
        "/problems/user-token-mismatch",
      ],
      ["other user", await hs256({ sub: "ann" }), { userId: "bob" }, 403, "/problems/user-token-mismatch"],
    ];
    for (const [why, token, body, status, type] of refusals) {
      const answer = await book(ctx.client, eventId, body, token);
      expect({ why, status: answer.status, type: answer.body.type }).toEqual({ why, status, type });
      expect(answer.contentType).toContain("application/problem+json");
    }
    // Right person, right event: the booking is the token's person's, body userId or not.
    expect((await book(ctx.client, eventId, { userId: "ann" }, await hs256({ sub: "ann", eventId }))).status).toBe(201);
    const implied = await book(ctx.client, other, {}, await hs256({ sub: "ann" }));
    expect(implied.status).toBe(201);
  });

  it("20 userIds from one client cannot hold more than the per-person limit", async () => {
    const eventId = await ctx.client.eventId({ capacity: 40, maxPerUser: 2 });
    const token = await hs256({ sub: "one-person", eventId });
    const answers = [];
    for (let i = 0; i < 20; i++)
      answers.push(await book(ctx.client, eventId, { userId: `bot-${i}`, quantity: 2 }, token));
    for (let i = 0; i < 20; i++) answers.push(await book(ctx.client, eventId, { quantity: 2 }, token));
    for (let i = 0; i < 20; i++)
      answers.push(await book(ctx.client, eventId, { userId: `bot-${i}`, quantity: 2 }, null));
    const held = answers.filter((a) => a.status === 201).reduce((sum, a) => sum + a.body.quantity, 0);
    expect(held).toBe(2);
    const live = await ctx.client.request("GET", `/events/${eventId}`);
    expect(live.body.instock).toBe(38);
  });
});

describe("signed identities (USER_TOKEN_JWKS_URL)", () => {
  let jwks: Server;
  let running: RunningEngine;
  let client: Api;
  let sign: (sub: string) => Promise<string>;

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "site-1", alg: "ES256", use: "sig" };
    jwks = createServer((_req, res) =>
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ keys: [jwk] })),
    );
    await new Promise<void>((done) => jwks.listen(0, "127.0.0.1", () => done()));
    const url = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/.well-known/jwks.json`;
    sign = (sub) =>
      new SignJWT({})
        .setProtectedHeader({ alg: "ES256", kid: "site-1" })
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime("1m")
        .sign(privateKey);
    running = await startTestEngine({ USER_TOKEN_JWKS_URL: url });
    client = api(running);
  });
  afterAll(async () => {
    await running?.stop();
    await new Promise<void>((done) => jwks.close(() => done()));
  });

  it("accepts a token signed with a key the ticketing site publishes, and refuses an HMAC one", async () => {
    const eventId = await client.eventId({ capacity: 5 });
    expect((await book(client, eventId, {}, await sign("jwks-person"))).status).toBe(201);
    expect((await book(client, eventId, {}, await hs256({ sub: "jwks-other" }))).status).toBe(401);
  });
});
