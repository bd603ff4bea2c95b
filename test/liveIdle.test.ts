import { connect } from "node:net";
import { WebSocket } from "undici";
import { describe, expect, it } from "vitest";
import { sleep, useTestEngine } from "./helpers.js";

// A waiting person sends nothing for minutes: the live channel must not drop them for it. The
// server pings a socket idle for LIVE_IDLE_SECONDS and closes it only when the ping goes
// unanswered (a dead peer), so a client that answers (every browser, undici) stays open and
// gets its turn; a peer that never answers is closed, which shows the idle timeout is live.

const IDLE_SECONDS = 8;
const ctx = useTestEngine({ LIVE_IDLE_SECONDS: String(IDLE_SECONDS) });

const upgradePath = (booking: { id: string; token: string }) =>
  `/live?booking=${booking.id}&token=${encodeURIComponent(booking.token)}`;

/** A peer that upgrades and then never answers anything: its opcodes seen, and when the server closed it. */
function openMutePeer(port: number, booking: { id: string; token: string }) {
  const socket = connect({ host: "127.0.0.1", port });
  socket.write(
    `GET ${upgradePath(booking)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  let received = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
  });
  const closed = new Promise<number>((resolve) => socket.on("close", () => resolve(Date.now())));
  /** The opcodes of the frames after the 101 head (server frames are unmasked; lengths below 64 KiB). */
  const opcodes = () => {
    const found: number[] = [];
    let offset = received.indexOf("\r\n\r\n") + 4;
    while (offset + 2 <= received.length) {
      let length = received[offset + 1]! & 0x7f;
      let header = 2;
      if (length === 126) [length, header] = [received.readUInt16BE(offset + 2), 4];
      found.push(received[offset]! & 0x0f);
      offset += header + length;
    }
    return found;
  };
  return { closed, opcodes, head: () => received.toString("latin1", 0, 12) };
}

describe("an idle waiting person", () => {
  it("is pinged, not dropped, and gets their turn; a peer that never answers the ping is closed", async () => {
    const port = ctx.running.http!.port;
    const eventId = await ctx.client.eventId({ capacity: 1 });
    const holder = (await ctx.client.book(eventId, "idle-holder")).body;
    const waiting = (await ctx.client.book(eventId, "idle-waiting")).body;
    const mute = (await ctx.client.book(eventId, "idle-mute")).body;
    expect([waiting.position, mute.position]).toEqual([1, 2]);

    const ws = new WebSocket(`ws://127.0.0.1:${port}${upgradePath(waiting)}`);
    const messages: { type: string; position?: number }[] = [];
    ws.addEventListener("message", (event) => messages.push(JSON.parse(String(event.data))));
    let closeCode: number | null = null;
    ws.addEventListener("close", (event) => {
      closeCode = event.code;
    });
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve);
      ws.addEventListener("error", reject);
    });
    const peer = openMutePeer(port, mute);
    const openedAtMs = Date.now();

    // Twice the idle timeout without a message either way (the line does not move).
    await sleep(2 * IDLE_SECONDS * 1000);
    expect(peer.head()).toBe("HTTP/1.1 101");
    const peerClosedAtMs = await Promise.race([peer.closed, sleep(0).then(() => null)]);
    expect(peerClosedAtMs, "the silent peer is closed").not.toBeNull();
    expect(peerClosedAtMs! - openedAtMs).toBeGreaterThanOrEqual((IDLE_SECONDS - 4) * 1000);
    // It was sent its place, then a ping (opcode 9) it never answered.
    expect(peer.opcodes().slice(0, 2)).toEqual([0x1, 0x9]);
    expect(closeCode, "the answering socket stays open").toBeNull();
    expect(messages).toEqual([expect.objectContaining({ type: "position", position: 1 })]);

    expect((await ctx.client.cancel(holder.id, holder.token)).status).toBe(200);
    for (let tries = 0; tries < 50 && messages.length < 2; tries++) await sleep(100);
    expect(messages[1]).toMatchObject({ type: "turn", status: "held" });
    ws.close();
  }, 30_000);
});
