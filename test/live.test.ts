import { afterAll, describe, expect, it } from "vitest";
import { WebSocket } from "undici";
import type { RunningEngine } from "../bin/app.js";
import { checkInvariant, startTestEngine, useTestEngine } from "./helpers.js";

// The live channel over real WebSockets: positions count down, "your turn" arrives right
// after a hold is released, expiry is pushed, and a socket on another HTTP process sees the
// same changes (each process reads the event's log stream).

const ctx = useTestEngine();
const others: RunningEngine[] = [];
afterAll(async () => {
  for (const other of others) await other.stop();
});

interface Message {
  type: string;
  status: string;
  position?: number;
  estimatedWaitSeconds?: number | null;
  paymentUrl?: string;
  expiresAt?: string;
  atMs: number;
}

/** A WebSocket follower that keeps every message with the time it arrived. */
class Follower {
  readonly messages: Message[] = [];
  private waiters: (() => void)[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (event) => {
      this.messages.push({ ...JSON.parse(String(event.data)), atMs: performance.now() });
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  static open(port: number, id: string, token: string): Promise<Follower> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/live?booking=${id}&token=${encodeURIComponent(token)}`);
    return new Promise((resolve, reject) => {
      ws.addEventListener("open", () => resolve(new Follower(ws)));
      ws.addEventListener("error", () => reject(new Error("websocket refused")));
    });
  }

  async next(match: (m: Message) => boolean, timeoutMs = 5000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching message; got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  close(): void {
    this.ws.close();
  }
}

describe("live booking status over WebSocket", () => {
  it("counts positions down and pushes 'your turn' within 100 ms of a release (median; none past 1 s), on every HTTP process (Hi.Events #178)", async () => {
    const other = await startTestEngine();
    others.push(other);
    const port = ctx.running.http!.port;
    const eventId = await ctx.client.eventId({ capacity: 1 });
    const first = (await ctx.client.book(eventId, "live-first")).body;
    expect(first.status).toBe("held");
    const waiting = [];
    for (const user of ["live-b", "live-c", "live-d"]) waiting.push((await ctx.client.book(eventId, user)).body);
    expect(waiting.map((b) => b.position)).toEqual([1, 2, 3]);

    const b = await Follower.open(port, waiting[0].id, waiting[0].token);
    const c = await Follower.open(port, waiting[1].id, waiting[1].token);
    // D follows through a second HTTP process sharing the same Redis.
    const d = await Follower.open(other.http!.port, waiting[2].id, waiting[2].token);
    await b.next((m) => m.position === 1);
    await c.next((m) => m.position === 2);
    await d.next((m) => m.position === 3);

    const latencies: number[] = [];
    const releasedAt = performance.now();
    expect((await ctx.client.cancel(first.id, first.token)).status).toBe(200);
    const turn = await b.next((m) => m.type === "turn");
    const cMoved = await c.next((m) => m.position === 1);
    const dMoved = await d.next((m) => m.position === 2);
    latencies.push(turn.atMs - releasedAt, cMoved.atMs - releasedAt, dMoved.atMs - releasedAt);
    expect(turn).toMatchObject({ status: "held" });
    expect(turn.paymentUrl).toContain(`/pay/${waiting[0].id}?token=`);
    expect(Date.parse(turn.expiresAt!)).toBeGreaterThan(Date.now());
    // One booking was served in the recent past: the estimate is a number of seconds now.
    expect(dMoved.estimatedWaitSeconds).toBeGreaterThanOrEqual(1);

    const releasedAgain = performance.now();
    expect((await ctx.client.cancel(waiting[0].id, waiting[0].token)).status).toBe(200);
    const bCancelled = await b.next((m) => m.status === "cancelled");
    const cTurn = await c.next((m) => m.type === "turn");
    const dMovedAgain = await d.next((m) => m.position === 1);
    latencies.push(cTurn.atMs - releasedAgain, dMovedAgain.atMs - releasedAgain);
    expect(bCancelled.type).toBe("status");

    // The release round trip itself is inside these figures. A busy CI machine may stall one
    // message, so the 100 ms is the median's; none may take a second.
    console.log(
      `live latency from release request to WebSocket message (ms): ${latencies.map((ms) => ms.toFixed(1)).join(", ")}`,
    );
    const sorted = [...latencies].sort((x, y) => x - y);
    expect(sorted[Math.floor(sorted.length / 2)]).toBeLessThan(100);
    for (const ms of latencies) expect(ms).toBeLessThan(1000);
    for (const f of [b, c, d]) f.close();
    await checkInvariant(ctx.running.engine, eventId);
  });

  it("pushes expiry when the sweep reclaims a hold", async () => {
    const eventId = await ctx.client.eventId({ capacity: 2 });
    const { engine, config } = ctx.running;
    // A hold granted just under HOLD_SECONDS ago: it ends in half a second.
    const booking = await engine.hold(
      { eventId, userId: "live-expiring", quantity: 1, email: "", idempotencyKey: "" },
      Date.now() - config.holds.holdMs + 500,
    );
    const follower = await Follower.open(ctx.running.http!.port, booking.id, booking.token);
    await follower.next((m) => m.type === "turn");
    await new Promise((resolve) => setTimeout(resolve, 600));
    await engine.sweep(eventId);
    const expired = await follower.next((m) => m.status === "expired");
    expect(expired).toMatchObject({ type: "status", status: "expired" });
    follower.close();
  });

  it("refuses a socket whose token does not match the booking", async () => {
    const eventId = await ctx.client.eventId({ capacity: 2 });
    const held = (await ctx.client.book(eventId, "live-wrong-token")).body;
    await expect(Follower.open(ctx.running.http!.port, held.id, `${eventId}.${"A".repeat(43)}`)).rejects.toThrow(
      "refused",
    );
    await expect(Follower.open(ctx.running.http!.port, "not-an-id", held.token)).rejects.toThrow("refused");
  });
});

describe("a line of followers", () => {
  it("gives 60 sockets positions that only count down and turns in arrival order", async () => {
    const port = ctx.running.http!.port;
    const eventId = await ctx.client.eventId({ capacity: 1 });
    let holder = (await ctx.client.book(eventId, "line-holder")).body;
    const people = [];
    for (let n = 0; n < 60; n++) people.push((await ctx.client.book(eventId, `line-${n}`)).body);
    const followers = await Promise.all(people.map((p) => Follower.open(port, p.id, p.token)));
    await Promise.all(followers.map((f, n) => f.next((m) => m.position === n + 1)));
    // Each release serves the head; the one served releases in turn, so everyone gets a turn.
    const turnOrder: number[] = [];
    for (let n = 0; n < people.length; n++) {
      expect((await ctx.client.cancel(holder.id, holder.token)).status).toBe(200);
      await followers[n]!.next((m) => m.type === "turn");
      turnOrder.push(n);
      holder = people[n];
    }
    expect(turnOrder).toEqual(people.map((_, n) => n));
    for (const [n, follower] of followers.entries()) {
      const positions = follower.messages.filter((m) => m.type === "position").map((m) => m.position!);
      // Strictly decreasing from the arrival position down to 1: never up, never repeated.
      expect(positions[0]).toBe(n + 1);
      expect(positions.every((p, i) => i === 0 || p < positions[i - 1]!)).toBe(true);
      expect(positions.at(-1)).toBe(1);
      follower.close();
    }
    await checkInvariant(ctx.running.engine, eventId);
  });
});

describe("pre-sale arrivals", () => {
  async function presaleEvent(capacity: number) {
    const startsAtMs = Math.ceil((Date.now() + 60_000) / 1000) * 1000;
    const eventId = await ctx.client.eventId({ capacity, saleStartsAt: new Date(startsAtMs).toISOString() });
    const early = [];
    for (let n = 0; n < 5; n++) early.push((await ctx.client.book(eventId, `early-${n}`)).body);
    expect(early.map((b) => [b.status, b.position])).toEqual([1, 2, 3, 4, 5].map((p) => ["waiting", p]));
    return { eventId, startsAtMs, early };
  }
  const statuses = (early: { id: string; token: string }[]) =>
    Promise.all(early.map(async (b) => (await ctx.running.engine.status(b.id, b.token)).status));

  it("serves people who came before the sale in arrival order, ahead of someone arriving at the opening instant", async () => {
    const { eventId, startsAtMs, early } = await presaleEvent(3);
    const atOpening = await ctx.running.engine.hold(
      { eventId, userId: "on-the-second", quantity: 1, email: "", idempotencyKey: "" },
      startsAtMs,
    );
    expect(atOpening).toMatchObject({ status: "waiting", position: 3 });
    expect(await statuses(early)).toEqual(["held", "held", "held", "waiting", "waiting"]);
    await checkInvariant(ctx.running.engine, eventId);
  });

  it("opens the line by the sweep when nobody books at the opening", async () => {
    const { eventId, startsAtMs, early } = await presaleEvent(2);
    expect(await ctx.running.engine.sweep(eventId, startsAtMs - 1)).toMatchObject({ served: 0, lineLength: 5 });
    expect(await ctx.running.engine.sweep(eventId, startsAtMs)).toMatchObject({ served: 2, lineLength: 3 });
    expect(await statuses(early)).toEqual(["held", "held", "waiting", "waiting", "waiting"]);
  });
});
