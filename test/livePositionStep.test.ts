import { WebSocket } from "undici";
import { describe, expect, it } from "vitest";
import { sleep, useTestEngine } from "./helpers.js";

// Far back in a long line, a place that moved by one is not worth a message: a full pass sends
// it only once it moved by LIVE_POSITION_STEP_PERCENT of the place last sent, while places near
// the head (LIVE_HEAD_POSITIONS) are sent at every move. Here the head is the first 2 places and
// the step 50%: when the line moves by one, place 3 (step 1) is told, place 8 (step 4) is not
// until the line has moved by 4.

const ctx = useTestEngine({
  LIVE_HEAD_POSITIONS: "2",
  LIVE_POSITION_STEP_PERCENT: "50",
  LIVE_POSITION_INTERVAL_MS: "100",
});

type Message = { type: string; position?: number };

async function follow(port: number, booking: { id: string; token: string }): Promise<Message[]> {
  const ws = new WebSocket(
    `ws://127.0.0.1:${port}/live?booking=${booking.id}&token=${encodeURIComponent(booking.token)}`,
  );
  const messages: Message[] = [];
  ws.addEventListener("message", (event) => messages.push(JSON.parse(String(event.data))));
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  return messages;
}

const places = (messages: Message[]) => messages.map((message) => message.position);

describe("places far back in line", () => {
  it("are sent once they moved by LIVE_POSITION_STEP_PERCENT of the place last sent; places near the head at every move", async () => {
    const port = ctx.running.http!.port;
    const eventId = await ctx.client.eventId({ capacity: 4, maxPerUser: 1 });
    const holders = [];
    for (let i = 0; i < 4; i++) holders.push((await ctx.client.book(eventId, `step-holder-${i}`, 1)).body);
    const waiting = [];
    for (let i = 0; i < 8; i++) waiting.push((await ctx.client.book(eventId, `step-waiting-${i}`, 1)).body);
    expect(waiting.map((booking) => booking.position)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const third = await follow(port, waiting[2]!);
    const eighth = await follow(port, waiting[7]!);
    for (let tries = 0; tries < 50 && (third.length < 1 || eighth.length < 1); tries++) await sleep(50);
    expect([places(third), places(eighth)]).toEqual([[3], [8]]);

    // One place forward: the third is told (a step of 1 is 50% of 3, rounded down), the eighth is not.
    expect((await ctx.client.cancel(holders[0]!.id, holders[0]!.token)).status).toBe(200);
    for (let tries = 0; tries < 50 && third.length < 2; tries++) await sleep(50);
    await sleep(500); // several passes
    expect([places(third), places(eighth)]).toEqual([[3, 2], [8]]);

    // Three more: the eighth has moved by 4, half its place last sent.
    for (const holder of holders.slice(1)) expect((await ctx.client.cancel(holder.id, holder.token)).status).toBe(200);
    for (let tries = 0; tries < 50 && eighth.length < 2; tries++) await sleep(50);
    expect(places(eighth)).toEqual([8, 4]);
  }, 30_000);
});
