import { fileURLToPath } from "node:url";
import { Agent, WebSocket } from "undici";

// A child process of bench/waitingRoom.ts holding a share of the waiting room's WebSockets:
// one per booking it is given, all from one loopback source address (so each child has its own
// range of ports). It reports progress, each "your turn" with the time it arrived, and on
// request each socket's last message. Speaks to its parent over the IPC channel only.

/** What the parent sends. */
export type ClientCommand =
  | { type: "open"; url: string; localAddress: string; bookings: { id: string; token: string }[] }
  | { type: "report" }
  | { type: "close" };

/** What a child sends back. */
export type ClientEvent =
  | { type: "progress"; open: number; failed: number }
  | { type: "opened"; open: number; failed: number }
  | { type: "turn"; bookingId: string; atMs: number }
  | {
      type: "report";
      lastPositions: (number | null)[];
      turns: number;
      messages: number;
      closedEarly: number;
      closeCodes: Record<number, number>;
    };

/** Upgrades in flight at once per child: more overflow the server's accept queue. */
const CONNECTING_MAX = 25;
const PROGRESS_EVERY = 1000;

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes of the machine. */
export const nowMs = () => performance.timeOrigin + performance.now();

function send(event: ClientEvent): void {
  process.send!(event);
}

/** A socket's last position when it failed or closed: it is not counted. */
export const NOT_OPEN = -1;
/** Last position message per socket (null once its turn or end came; NOT_OPEN). */
const lastPositions: (number | null)[] = [];
const sockets: WebSocket[] = [];
let turns = 0;
let messages = 0;
let closedEarly = 0;
/** Sockets closed before the end, by close code. */
const closeCodes: Record<number, number> = {};
let closing = false;

async function open(command: Extract<ClientCommand, { type: "open" }>): Promise<void> {
  const dispatcher = new Agent({ connect: { localAddress: command.localAddress } });
  let next = 0;
  let opened = 0;
  let failed = 0;
  const openOne = (index: number) =>
    new Promise<void>((resolve) => {
      const { id, token } = command.bookings[index]!;
      const ws = new WebSocket(`${command.url}/live?booking=${id}&token=${encodeURIComponent(token)}`, { dispatcher });
      lastPositions[index] = null;
      let wasOpen = false;
      ws.addEventListener("open", () => {
        wasOpen = true;
        opened += 1;
        sockets.push(ws);
        resolve();
      });
      ws.addEventListener("error", () => {
        if (wasOpen) return;
        lastPositions[index] = NOT_OPEN;
        failed += 1;
        resolve();
      });
      ws.addEventListener("close", (event) => {
        if (closing || !wasOpen) return;
        closedEarly += 1;
        lastPositions[index] = NOT_OPEN;
        closeCodes[event.code] = (closeCodes[event.code] ?? 0) + 1;
      });
      ws.addEventListener("message", (event) => {
        messages += 1;
        const message = JSON.parse(String(event.data)) as { type: string; position?: number };
        if (message.type === "position") lastPositions[index] = message.position!;
        else lastPositions[index] = null;
        if (message.type === "turn") {
          turns += 1;
          send({ type: "turn", bookingId: id, atMs: nowMs() });
        }
      });
    });
  const lane = async () => {
    while (next < command.bookings.length) {
      await openOne(next++);
      if ((opened + failed) % PROGRESS_EVERY === 0) send({ type: "progress", open: opened, failed });
    }
  };
  await Promise.all(Array.from({ length: CONNECTING_MAX }, lane));
  send({ type: "opened", open: opened, failed });
}

// Only as the child process: the bench and its test import this file for its types.
if (process.argv[1] === fileURLToPath(import.meta.url))
  process.on("message", (command: ClientCommand) => {
    if (command.type === "open") void open(command);
    else if (command.type === "report")
      send({ type: "report", lastPositions, turns, messages, closedEarly, closeCodes });
    else {
      closing = true;
      for (const ws of sockets) ws.close();
      setTimeout(() => process.exit(0), 500);
    }
  });
