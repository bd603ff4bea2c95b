import { randomFillSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";

// A child process of bench/waitingRoom.ts holding a share of the waiting room's WebSockets:
// one per booking it is given, spread over the loopback source addresses it is given (each
// address has its own range of ephemeral ports). The WebSocket client is a minimal RFC 6455 one
// on node:net (the upgrade, unmasked server frames, masked pong and close frames): a few hundred
// bytes and no timers per socket, so one process holds ~19,000 sockets and stays free to answer
// the server's pings at once. It reports progress, each "your turn" with the time it arrived,
// and on request every socket's state: open, failed (and why), closed early (and why).

/** What the parent sends. */
export type ClientCommand =
  | {
      type: "open";
      host: string;
      port: number;
      localAddresses: string[];
      /** This child's whole share; the sockets of bookings[from, to) are opened now. */
      bookings: { id: string; token: string }[];
      from: number;
      to: number;
    }
  | { type: "report" }
  | { type: "close" };

/** Every socket of a child, counted by what became of it. */
export interface ClientTally {
  open: number;
  failed: number;
  closedEarly: number;
  /** Why upgrades failed: an error code, or the HTTP status the server refused with. */
  failures: Record<string, number>;
  /** Why open sockets closed early: the close code and, for 1006 (no close frame), the socket error or EOF. */
  closes: Record<string, number>;
  /** Seconds each early-closed socket had been open (up to SAMPLES_MAX). */
  closedAfterS: number[];
  /** Sockets that got a message after their first (their place moved, or their turn came). */
  updated: number;
  turns: number;
  messages: number;
  /** Pings the server sent and this child answered. */
  pings: number;
}

/** What a child sends back. */
export type ClientEvent =
  | { type: "progress"; open: number; failed: number }
  | { type: "opened"; open: number; failed: number }
  | { type: "turn"; bookingId: string; atMs: number }
  | ({ type: "report"; lastPositions: number[] } & ClientTally);

/** Upgrades in flight at once per child. */
const CONNECTING_MAX = 64;
const PROGRESS_EVERY = 1000;
/** An upgrade not answered by then counts as failed ("timeout"). */
const UPGRADE_TIMEOUT_MS = 60_000;
const SAMPLES_MAX = 1000;

const OPCODE = { text: 0x1, close: 0x8, ping: 0x9, pong: 0xa } as const;
/** The close code when a socket ends without a close frame (RFC 6455 7.1.5). */
const ABNORMAL = 1006;

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes of the machine. */
export const nowMs = () => performance.timeOrigin + performance.now();

/** A socket's last position when it failed or closed: it is not counted. */
export const NOT_OPEN = -1;
/** A socket's last position once it got its turn or an end (0 while no position came). */
const NOT_WAITING = 0;

function send(event: ClientEvent): void {
  process.send!(event);
}

/** A masked client frame; payloads are at most 125 bytes (a pong echoes a ping, a close carries a code). */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(6 + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | payload.length;
  randomFillSync(frame, 2, 4);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ frame[2 + (i & 3)]!;
  return frame;
}

const closeFrame = (code: number) => {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return clientFrame(OPCODE.close, payload);
};

/** The frames complete in data from offset: [opcode, payload] each, and where the incomplete rest starts. */
function readFrames(data: Buffer, offset: number): { frames: [number, Buffer][]; rest: number } {
  const frames: [number, Buffer][] = [];
  while (data.length - offset >= 2) {
    // Server frames are unmasked and, for this channel's small messages, never fragmented.
    if ((data[offset]! & 0x80) === 0 || (data[offset + 1]! & 0x80) !== 0) throw new Error("fragmented or masked frame");
    let length = data[offset + 1]! & 0x7f;
    let header = 2;
    if (length === 126) {
      if (data.length - offset < 4) break;
      length = data.readUInt16BE(offset + 2);
      header = 4;
    } else if (length === 127) {
      if (data.length - offset < 10) break;
      length = Number(data.readBigUInt64BE(offset + 2));
      header = 10;
    }
    if (data.length - offset < header + length) break;
    frames.push([data[offset]! & 0x0f, data.subarray(offset + header, offset + header + length)]);
    offset += header + length;
  }
  return { frames, rest: offset };
}

const tally: ClientTally = {
  open: 0,
  failed: 0,
  closedEarly: 0,
  failures: {},
  closes: {},
  closedAfterS: [],
  updated: 0,
  turns: 0,
  messages: 0,
  pings: 0,
};
/** Last position per socket: NOT_OPEN, NOT_WAITING, or its place in line. */
let lastPositions = new Int32Array(0);
/** Messages per socket. */
let messageCounts = new Uint32Array(0);
/** Every socket that opened, to close at the end. */
const ends: LiveSocket[] = [];
let closing = false;

const bump = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/** One socket's messages: its place, its turn (sent to the parent at once), or its end. */
function onMessage(index: number, bookingId: string, payload: Buffer): void {
  tally.messages += 1;
  messageCounts[index]! += 1;
  if (messageCounts[index] === 2) tally.updated += 1;
  const message = JSON.parse(payload.toString("utf8")) as { type: string; position?: number };
  lastPositions[index] = message.type === "position" ? message.position! : NOT_WAITING;
  if (message.type === "turn") {
    tally.turns += 1;
    send({ type: "turn", bookingId, atMs: nowMs() });
  }
}

/** The upgrade request for one booking's socket. */
function upgradeRequest(host: string, port: number, booking: { id: string; token: string }): string {
  const key = randomFillSync(Buffer.alloc(16)).toString("base64");
  return (
    `GET /live?booking=${booking.id}&token=${encodeURIComponent(booking.token)} HTTP/1.1\r\nHost: ${host}:${port}\r\n` +
    `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
  );
}

/** The next port of each source address, cycling through the ephemeral range. */
const nextPorts = new Map<string, number>();
const [PORT_FIRST, PORT_LAST] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
  .trim()
  .split(/\s+/)
  .map(Number) as [number, number];
/** Ports tried for one socket when the one taken is in use (by TIME_WAIT of a run before, say). */
const BIND_TRIES_MAX = 20;

/**
 * A source port for the address, chosen here rather than by the kernel: bind(address, 0)
 * searches the address's ports for a free one, and that search grows with the sockets bound
 * (most of a client's time in the kernel, connecting slowing to ~150/s past 90,000 sockets).
 */
function takePort(address: string): number {
  const port = nextPorts.get(address) ?? PORT_FIRST;
  nextPorts.set(address, port >= PORT_LAST ? PORT_FIRST : port + 1);
  return port;
}

/** One booking's socket: its upgrade, its frames, its end. */
class LiveSocket {
  private socket!: Socket;
  private bindTries = 0;
  /** Bytes of an incomplete response head or frame. */
  private pending: Buffer | null = null;
  private openedAtMs = 0;
  /** The server's close code; 0 while none came. */
  private closeCode = 0;
  private error = "";

  constructor(
    private readonly index: number,
    private readonly bookingId: string,
    private readonly command: Extract<ClientCommand, { type: "open" }>,
    private readonly settle: () => void,
  ) {
    this.connect();
  }

  /** Connects from this socket's source address and a port of its own (localPort: see takePort). */
  private connect(): void {
    const { host, port, localAddresses, bookings } = this.command;
    const localAddress = localAddresses[this.index % localAddresses.length]!;
    this.error = "";
    this.socket = connect({ host, port, localAddress, localPort: takePort(localAddress), noDelay: true });
    this.socket.setTimeout(UPGRADE_TIMEOUT_MS, () => this.socket.destroy(new Error("timeout")));
    this.socket.write(upgradeRequest(host, port, bookings[this.index]!));
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.socket.on("error", (error: NodeJS.ErrnoException) => {
      this.error = error.code ?? error.message;
    });
    this.socket.on("close", () => this.onClose());
  }

  end(): void {
    this.socket.end(closeFrame(1000));
  }

  private onData(chunk: Buffer): void {
    let data = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let offset = 0;
    if (this.openedAtMs === 0) {
      const end = data.indexOf("\r\n\r\n");
      if (end < 0) {
        this.pending = data;
        return;
      }
      const status = data.toString("latin1", 9, 12);
      if (status !== "101") {
        this.socket.destroy(new Error(`HTTP ${status}`));
        return;
      }
      this.openedAtMs = Date.now();
      this.socket.setTimeout(0);
      tally.open += 1;
      ends.push(this);
      this.settle();
      offset = end + 4;
    }
    try {
      const { frames, rest } = readFrames(data, offset);
      for (const [opcode, payload] of frames) this.onFrame(opcode, payload);
      data = data.subarray(rest);
    } catch (error) {
      this.socket.destroy(error as Error);
      return;
    }
    if (data.length > 0) this.pending = Buffer.from(data);
  }

  private onFrame(opcode: number, payload: Buffer): void {
    if (opcode === OPCODE.text) onMessage(this.index, this.bookingId, payload);
    else if (opcode === OPCODE.ping) {
      tally.pings += 1;
      this.socket.write(clientFrame(OPCODE.pong, payload));
    } else if (opcode === OPCODE.close) {
      this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.socket.end(closeFrame(this.closeCode));
    }
  }

  private onClose(): void {
    if (this.openedAtMs === 0 && this.error === "EADDRINUSE" && this.bindTries++ < BIND_TRIES_MAX) {
      this.connect();
      return;
    }
    if (this.openedAtMs === 0) {
      tally.failed += 1;
      lastPositions[this.index] = NOT_OPEN;
      bump(tally.failures, this.error || "closed before the upgrade");
      this.settle();
      return;
    }
    tally.open -= 1;
    if (closing) return;
    tally.closedEarly += 1;
    lastPositions[this.index] = NOT_OPEN;
    bump(tally.closes, this.closeCode === 0 ? `${ABNORMAL} ${this.error || "EOF"}` : String(this.closeCode));
    if (tally.closedAfterS.length < SAMPLES_MAX)
      tally.closedAfterS.push(Math.round((Date.now() - this.openedAtMs) / 1000));
  }
}

/** Opens one socket; settles once it is open or has failed. */
function openOne(command: Extract<ClientCommand, { type: "open" }>, index: number): Promise<void> {
  return new Promise((settle) => new LiveSocket(index, command.bookings[index]!.id, command, settle));
}

async function open(command: Extract<ClientCommand, { type: "open" }>): Promise<void> {
  if (lastPositions.length !== command.bookings.length) {
    lastPositions = new Int32Array(command.bookings.length);
    messageCounts = new Uint32Array(command.bookings.length);
  }
  let next = command.from;
  const lane = async () => {
    while (next < command.to) {
      await openOne(command, next++);
      if ((tally.open + tally.failed) % PROGRESS_EVERY === 0)
        send({ type: "progress", open: tally.open, failed: tally.failed });
    }
  };
  await Promise.all(Array.from({ length: CONNECTING_MAX }, lane));
  send({ type: "opened", open: tally.open, failed: tally.failed });
}

// Only as the child process: the bench and its test import this file for its types.
if (process.argv[1] === fileURLToPath(import.meta.url))
  process.on("message", (command: ClientCommand) => {
    if (command.type === "open") void open(command);
    else if (command.type === "report") send({ type: "report", lastPositions: [...lastPositions], ...tally });
    else {
      closing = true;
      for (const socket of ends) socket.end();
      setTimeout(() => process.exit(0), 1000);
    }
  });
