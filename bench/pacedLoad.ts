import { connect, type Socket } from "node:net";
import type { MessagePort } from "node:worker_threads";
import { threadCpuUs } from "./cpu.js";
import { LatencyHistogram } from "./histogram.js";
import { TICK_MS, type LoadMessage } from "./protocol.js";

// A load held at a rate, sent open-loop: request i leaves at start + i / rate whatever the
// answers before it did, and its latency counts from that planned moment, so a stall shows as
// the wait every request planned during it had (no coordinated omission). autocannon's own rate
// cap is not used: it lets each connection send its quota for the second at once, then idle, so
// "80% of peak" was full saturation for most of each second and its p99 measured the queue.

/** Planned requests waiting for a free connection at most; past it the run counts the rest as errors. */
const PACED_WAITING_MAX = 10_000;
/** An answer slower than this counts as a timeout too (autocannon's timeout in the other runs). */
const PACED_TIMEOUT_MS = 30_000;
/**
 * Sent at the same rate before the measured run and not recorded: the first second of a run
 * is the load threads' and the server's code warming up (measured: most answers past 20 ms of
 * a 5 s run at 4,000 req/s were planned in its first 600 ms).
 */
const PACED_WARMUP_MS = 1000;
/** How often the sender wakes to send what is due: well under a request's spacing at bench rates. */
const PACED_WAKE_MS = 1;

export interface PacedJob {
  url: string;
  connections: number;
  durationS: number;
  /** Requests per second, spread evenly over the run. */
  rate: number;
  /** The body of the n-th request (n from 1). */
  body: (n: number) => string;
}

/** One keep-alive connection: sends one request at a time and reads its answer's status and length. */
class Connection {
  private readonly socket: Socket;
  private buffered = "";
  private plannedMs = 0;
  busy = false;

  constructor(
    url: URL,
    private readonly onAnswer: (connection: Connection, status: number, plannedMs: number) => void,
    onLost: (connection: Connection, wasBusy: boolean) => void,
  ) {
    this.socket = connect(Number(url.port), url.hostname);
    this.socket.setNoDelay(true);
    this.socket.setEncoding("latin1");
    this.socket.on("data", (chunk: string) => this.read(chunk));
    this.socket.on("error", () => undefined); // "close" follows
    this.socket.on("close", () => onLost(this, this.busy));
  }

  send(request: string, plannedMs: number): void {
    this.busy = true;
    this.plannedMs = plannedMs;
    this.socket.write(request, "latin1");
  }

  close(): void {
    this.socket.destroy();
  }

  private read(chunk: string): void {
    this.buffered += chunk;
    const headEnd = this.buffered.indexOf("\r\n\r\n");
    if (headEnd < 0) return;
    const length = CONTENT_LENGTH.exec(this.buffered.slice(0, headEnd));
    // uWS answers with a Content-Length; anything else this reader cannot frame is an error.
    if (length === null) return void this.socket.destroy();
    const end = headEnd + 4 + Number(length[1]);
    if (this.buffered.length < end) return;
    const status = Number(this.buffered.slice(9, 12));
    this.buffered = this.buffered.slice(end);
    this.busy = false;
    this.onAnswer(this, status, this.plannedMs);
  }
}

const CONTENT_LENGTH = /\r\ncontent-length: *(\d+)/i;

/** Sends the job's requests on schedule over keep-alive connections and reports like every load thread. */
export async function runPaced(job: PacedJob, parent: MessagePort): Promise<void> {
  const startCpuUs = threadCpuUs();
  const target = new URL(job.url);
  const histogram = new LatencyHistogram();
  const statuses: Record<string, number> = {};
  const total = Math.round((job.rate * (PACED_WARMUP_MS + job.durationS * 1000)) / 1000);
  const intervalMs = 1000 / job.rate;
  // Planned requests waiting for a free connection, oldest first: [plannedMs, n].
  const waiting: [number, number][] = [];
  const idle: Connection[] = [];
  let sent = 0;
  let settled = 0;
  let errors = 0;
  let timeouts = 0;
  let finish: () => void = () => undefined;
  const settle = () => {
    settled += 1;
    if (settled === total) finish();
  };
  const requestOf = (n: number) => {
    const body = job.body(n);
    return `POST /bookings HTTP/1.1\r\nhost: ${target.host}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  };
  const dispatch = (connection: Connection) => {
    const next = waiting.shift();
    if (next === undefined) idle.push(connection);
    else connection.send(requestOf(next[1]), next[0]);
  };
  const onAnswer = (connection: Connection, status: number, plannedMs: number) => {
    const latencyMs = performance.now() - plannedMs;
    if (latencyMs > PACED_TIMEOUT_MS) timeouts += 1;
    if (plannedMs >= measuredFromMs) {
      histogram.record(latencyMs);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
    settle();
    dispatch(connection);
  };
  const onLost = (connection: Connection, wasBusy: boolean) => {
    const at = idle.indexOf(connection);
    if (at >= 0) idle.splice(at, 1);
    if (wasBusy) {
      errors += 1;
      settle();
    }
    if (settled < total) dispatch(new Connection(target, onAnswer, onLost));
  };
  const connections = Array.from({ length: job.connections }, () => new Connection(target, onAnswer, onLost));
  idle.push(...connections);
  const startedMs = performance.now();
  const measuredFromMs = startedMs + PACED_WARMUP_MS;
  const ticker = setInterval(
    () => parent.postMessage({ type: "tick", responses: settled } satisfies LoadMessage),
    TICK_MS,
  );

  await new Promise<void>((resolve) => {
    finish = resolve;
    const wake = () => {
      const due = Math.min(total, Math.floor((performance.now() - startedMs) / intervalMs) + 1);
      for (; sent < due; sent += 1) {
        if (waiting.length >= PACED_WAITING_MAX) {
          errors += 1;
          settle();
          continue;
        }
        waiting.push([startedMs + sent * intervalMs, sent + 1]);
        const connection = idle.pop();
        if (connection !== undefined) dispatch(connection);
      }
      if (sent < total) setTimeout(wake, PACED_WAKE_MS);
    };
    wake();
  });
  clearInterval(ticker);
  for (const connection of connections) connection.close();
  parent.postMessage({
    type: "done",
    counts: histogram.counts,
    statuses,
    errors,
    timeouts,
    durationMs: performance.now() - measuredFromMs,
    cpuUs: threadCpuUs() - startCpuUs,
  } satisfies LoadMessage);
}
