import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { freePort } from "../bin/app.js";
import { loadConfig, type Limits } from "../engine/config.js";
import { Engine, type Booking } from "../engine/engine.js";
import { placeStillTrue } from "../http/liveFollowers.js";
import { createPool } from "../sql/db.js";
import { ensureDatabase, migrate } from "../sql/migrate.js";
import { dropEvent } from "../testkit/fixtures.js";
import { ROOT, sleep, startRole, stopAll, type Proc } from "../testkit/processes.js";
import { processCpuUs } from "./cpu.js";
import { DEFAULTS, createEvent, engineEnv } from "./setup.js";
import { NOT_OPEN, nowMs, type ClientCommand, type ClientEvent } from "./waitingRoomClient.js";

// The waiting room at scale (npm run bench:waiting-room -- --sockets 100000): an event with a
// small stock and a long line, one WebSocket per waiting person on /live, then holds released
// one at a time. Measures what one open socket costs the serve processes (RSS delta / sockets),
// the Redis calls one move of the line costs (INFO commandstats delta / moves), and the lag from
// a release to the served person's "your turn". Sockets are split over serve processes on one
// port and over client processes, so neither side passes its open-files limit; each client
// process connects from its own loopback addresses (127.0.0.x), enough of them that its sockets
// use at most half of each address's ephemeral ports. Every socket is accounted for: open at
// the end, failed to upgrade (and why), or closed early (and why).

export interface WaitingRoomOptions {
  sockets: number;
  /** Tickets: that many people hold, everyone else waits. */
  tickets: number;
  /** Holds released (cancelled) one by one, each serving the head of the line. */
  releases: number;
  /** Pause between releases, so each is measured on its own. */
  releaseGapMs: number;
  /** Every socket left idle this long after connecting, before the releases. */
  idleMs: number;
  redisUrl: string;
  databaseUrl: string;
  bossSchema: string;
  outFile: string;
}

export interface WaitingRoomResult {
  sockets: number;
  serveProcesses: number;
  clientProcesses: number;
  /** Source addresses each client process connects from. */
  addressesPerClient: number;
  connectMs: number;
  /** Every socket once: open at the end, failed to upgrade, or closed early. */
  open: number;
  failedSockets: number;
  failures: Record<string, number>;
  closedEarly: number;
  /** Close code of each early close (1006: no close frame, with the socket error or EOF). */
  closes: Record<string, number>;
  /** How long the early-closed sockets had been open (s), shortest and longest. */
  closedAfterS: { min: number; max: number } | null;
  /** Sockets that got a message after their first, and sockets that got their turn. */
  updated: number;
  turns: number;
  /** Server pings the clients answered (a socket idle for the idle timeout is pinged). */
  pings: number;
  /** Serve RSS after WARM_SOCKETS per client and after all; bytes per socket is the difference over the sockets opened between. */
  memory: { rssBeforeBytes: number[]; rssAfterBytes: number[]; bytesPerSocket: number };
  redis: {
    moves: number;
    /** INFO commandstats delta per move: every command Redis ran, the release script and the commands inside it included. */
    commandsPerMove: number;
    commandsByName: Record<string, number>;
    /** What the serve processes sent Redis per move (MONITOR, commands run inside scripts left out): the live channel's cost. */
    serveCallsPerMove: number;
    serveCallsByName: Record<string, number>;
  };
  /** Release to "your turn", for each release whose served person still had an open socket. */
  turnLagMs: { samples: number[]; p50: number; p99: number; max: number };
  /**
   * CPU while the line moved (the releases and SETTLE_MS after): in all, per second of it (1 = one
   * core busy), and per message the clients received then, of the serve and of the client processes.
   */
  cpu: { serveUs: number; serveCores: number; serveUsPerMessage: number; clientUs: number; clientUsPerMessage: number };
  /** Serve processes that exited before the end: their exit code or signal and last log lines. */
  serveExits: { name: string; exit: number | string; logTail: string }[];
  /** Releases whose served person got no "your turn" (their socket had failed or closed). */
  turnsMissed: number;
  /** Sockets whose last position after the moves is not their place in line (once settled, or SETTLE_MAX_MS after SETTLE_MS). */
  wrongPositions: number;
  /** After SETTLE_MS, how long until every open socket showed its place in line. */
  settleMs: number;
  messagesReceived: number;
  startedAt: string;
}

const OUT_FILE = join(ROOT, "bench", "results", "waiting-room.json");
const CLIENT_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "waitingRoomClient.ts");
/** Sockets per serve process, as a share of its open-files limit (connections land unevenly on serve processes). */
const FD_SHARE = 0.75;
/** Files a process keeps open besides sockets (Redis, PostgreSQL, the runtime). */
const FD_RESERVE = 1000;
/** Share of a source address's ephemeral ports a client uses (the rest stay free for TIME_WAIT and others). */
const PORTS_SHARE = 0.5;
/** The first loopback source address is 127.0.0.2; the last usable one 127.0.0.254. */
const FIRST_ADDRESS = 2;
const LAST_ADDRESS = 254;
/** Holds made at once while building the line. */
const HOLDS_IN_FLIGHT = 256;
/** After the last release, the time every socket is given to receive its new place (LIVE_POSITION_INTERVAL_MS is 1 s). */
const SETTLE_MS = 2500;
/** After SETTLE_MS, the longest the bench waits for every open socket to show its place in line. */
const SETTLE_MAX_MS = 20_000;
const TURN_TIMEOUT_MS = 10_000;
/** Sockets each client opens before the memory baseline is taken. */
const WARM_SOCKETS = 200;
/** Pause before reading the serve processes' RSS. */
const SETTLE_RSS_MS = 2000;
/** Least time between two progress lines while connecting. */
const PROGRESS_MS = 2000;

/** The open-files (soft) limit of this process; children inherit it. */
function openFilesLimit(): number {
  const match = /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"));
  return match ? Number(match[1]) : 1024;
}

/** Ephemeral ports per source address (net.ipv4.ip_local_port_range). */
function portsPerAddress(): number {
  const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
  return high! - low! + 1;
}

function rssBytes(proc: Proc): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : 0;
}

async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const match of (await redis.info("commandstats")).matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm))
    calls.set(match[1]!, Number(match[2]));
  return calls;
}

const log = (line: string) => process.stderr.write(`[waiting-room] ${line}\n`);

/** A client child: its events, and a way to wait for one. */
class Client {
  private readonly listeners = new Set<(event: ClientEvent) => void>();
  constructor(
    readonly child: ChildProcess,
    readonly onTurn: (bookingId: string, atMs: number) => void,
  ) {
    child.on("message", (event: ClientEvent) => {
      if (event.type === "turn") onTurn(event.bookingId, event.atMs);
      for (const listener of this.listeners) listener(event);
    });
  }

  command(command: ClientCommand): void {
    this.child.send(command);
  }

  next<T extends ClientEvent["type"]>(
    type: T,
    onOther?: (event: ClientEvent) => void,
  ): Promise<Extract<ClientEvent, { type: T }>> {
    return new Promise((resolve, reject) => {
      const listener = (event: ClientEvent) => {
        if (event.type === type) {
          this.listeners.delete(listener);
          resolve(event as Extract<ClientEvent, { type: T }>);
        } else onOther?.(event);
      };
      this.listeners.add(listener);
      this.child.once("exit", (code) => reject(new Error(`waiting-room client exited (${code})`)));
    });
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The engine's serve processes on one port. */
async function startServes(options: WaitingRoomOptions, processes: number) {
  await ensureDatabase(options.databaseUrl);
  const pool = createPool(options.databaseUrl, 2);
  await migrate(pool);
  await pool.end();
  const port = await freePort();
  const benchOptions = {
    ...DEFAULTS,
    redisUrl: options.redisUrl,
    databaseUrl: options.databaseUrl,
    bossSchema: options.bossSchema,
    people: options.sockets,
    // Holds outlast the run: only the releases move the line.
    holdSeconds: 3600,
  };
  const env = {
    ...engineEnv(benchOptions, port, await freePort()),
    LIVE_SOCKETS_PER_IP: String(options.sockets),
    // Past this a serve process refuses upgrades (503) instead of running out of files.
    LIVE_SOCKETS_MAX: String(openFilesLimit() - FD_RESERVE),
  };
  const serves: Proc[] = [];
  for (let i = 0; i < processes; i++) serves.push(await startRole(`serve-${i}`, ["serve", "--workers", "1"], env));
  return { port, env, serves };
}

/** The line: `tickets` people hold, then everyone with a socket waits, in arrival order. */
async function buildLine(engine: Engine, eventId: string, options: WaitingRoomOptions) {
  const people = options.tickets + options.sockets;
  const bookings: Booking[] = new Array(people);
  let made = 0;
  const lane = async () => {
    while (made < people) {
      const n = made++;
      bookings[n] = await engine.hold({ eventId, userId: `wr-${n}`, quantity: 1, email: "", idempotencyKey: "" });
      if (made % 20_000 === 0) log(`line: ${made} of ${people} people arrived`);
    }
  };
  await Promise.all(Array.from({ length: HOLDS_IN_FLIGHT }, lane));
  const holders = bookings.slice(0, options.tickets);
  const waiting = bookings.slice(options.tickets);
  if (
    !holders.every((b) => b.status === "held") ||
    !waiting.every((b, i) => b.status === "waiting" && b.position === i + 1)
  )
    throw new Error("the line was not built in arrival order");
  return { holders, waiting };
}

/** Where the sockets go: `share` bookings per client process, each client from its own loopback addresses. */
interface Spread {
  waiting: Booking[];
  share: number;
  addresses: number;
  port: number;
}

/** Opens the sockets of bookings [from, to) of each client's share; resolves with the time it took. */
async function connectClients(clients: Client[], spread: Spread, from: number, to: number): Promise<number> {
  const progress = new Map<number, number>();
  let loggedAtMs = 0;
  const startMs = Date.now();
  const total = sum(clients.map((_, i) => Math.max(0, Math.min(to, spread.waiting.length - i * spread.share) - from)));
  const opened = await Promise.all(
    clients.map((client, i) => {
      const { share, addresses } = spread;
      client.command({
        type: "open",
        host: "127.0.0.1",
        port: spread.port,
        localAddresses: Array.from({ length: addresses }, (_, a) => `127.0.0.${FIRST_ADDRESS + i * addresses + a}`),
        bookings: spread.waiting.slice(i * share, (i + 1) * share).map((b) => ({ id: b.id, token: b.token })),
        from,
        to: Math.min(to, spread.waiting.length - i * share),
      });
      return client.next("opened", (event) => {
        if (event.type !== "progress") return;
        progress.set(i, event.open + event.failed);
        if (Date.now() - loggedAtMs < PROGRESS_MS) return;
        loggedAtMs = Date.now();
        const seconds = ((Date.now() - startMs) / 1000).toFixed(0);
        log(`connecting: ${sum([...progress.values()])} sockets open or failed in ${seconds} s`);
      });
    }),
  );
  const connectMs = Date.now() - startMs;
  const open = sum(opened.map((o) => o.open));
  log(`${total} sockets tried in ${(connectMs / 1000).toFixed(1)} s; ${open} open in all`);
  return connectMs;
}

/** Cancels holds one at a time; each serves the head of the line, whose "your turn" is timed. */
async function release(
  engine: Engine,
  holders: Booking[],
  waiting: Booking[],
  turnAtMs: Map<string, number>,
  options: WaitingRoomOptions,
) {
  const lagMs: number[] = [];
  let turnsMissed = 0;
  for (let r = 0; r < options.releases; r++) {
    const holder = holders[r % holders.length]!;
    const served = waiting[r]!;
    const releasedAtMs = nowMs();
    await engine.cancel(holder.id, holder.token);
    const deadlineMs = Date.now() + TURN_TIMEOUT_MS;
    while (!turnAtMs.has(served.id) && Date.now() < deadlineMs) await sleep(1);
    const atMs = turnAtMs.get(served.id);
    if (atMs === undefined) turnsMissed += 1;
    else lagMs.push(atMs - releasedAtMs);
    // The one served is released in a later round, serving the next.
    holders[r % holders.length] = served;
    await sleep(options.releaseGapMs);
  }
  const sorted = [...lagMs].sort((a, b) => a - b);
  const turnLagMs = {
    samples: lagMs.map((ms) => Math.round(ms * 10) / 10),
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1) ?? 0,
  };
  return { turnLagMs, turnsMissed };
}

/** Counts per move, by command name and in all. */
function perMove(counts: Map<string, number>, moves: number) {
  const byName: Record<string, number> = {};
  let total = 0;
  for (const [name, count] of counts) {
    if (count === 0) continue;
    byName[name] = count / moves;
    total += count;
  }
  return { total: total / moves, byName };
}

/** Adds each count of `from` into `into`. */
function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [key, count] of Object.entries(from)) into[key] = (into[key] ?? 0) + count;
}

/** What each client saw: every socket's fate, messages, and each socket's last place against its place in line now. */
async function collectReports(clients: Client[], share: number, releases: number, limits: Limits) {
  const totals = { open: 0, failedSockets: 0, closedEarly: 0, updated: 0, turns: 0, pings: 0, messagesReceived: 0 };
  const failures: Record<string, number> = {};
  const closes: Record<string, number> = {};
  const closedAfterS: number[] = [];
  let wrongPositions = 0;
  for (const [i, client] of clients.entries()) {
    client.command({ type: "report" });
    const report = await client.next("report");
    totals.open += report.open;
    totals.failedSockets += report.failed;
    totals.closedEarly += report.closedEarly;
    totals.updated += report.updated;
    totals.turns += report.turns;
    totals.pings += report.pings;
    totals.messagesReceived += report.messages;
    addCounts(failures, report.failures);
    addCounts(closes, report.closes);
    closedAfterS.push(...report.closedAfterS);
    // The r-th waiting person (0-based) is now at r - releases + 1.
    for (const [k, position] of report.lastPositions.entries()) {
      const place = i * share + k - releases + 1;
      if (place >= 1 && position !== NOT_OPEN && !placeStillTrue(position, place, limits)) wrongPositions += 1;
    }
  }
  const closedAfter =
    closedAfterS.length === 0 ? null : { min: Math.min(...closedAfterS), max: Math.max(...closedAfterS) };
  return { ...totals, failures, closes, closedAfterS: closedAfter, wrongPositions };
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** The clients' reports once every open socket shows its place in line, or SETTLE_MAX_MS on. */
async function settledReports(clients: Client[], share: number, releases: number, limits: Limits) {
  const startMs = Date.now();
  for (;;) {
    const reports = await collectReports(clients, share, releases, limits);
    const settleMs = Date.now() - startMs;
    if (reports.wrongPositions === 0 || settleMs >= SETTLE_MAX_MS) return { ...reports, settleMs };
    await sleep(500);
  }
}

/** How the sockets are split: serve processes, client processes, sockets and source addresses per client. */
function layout(sockets: number) {
  const limit = openFilesLimit();
  const perServe = Math.floor((limit - FD_RESERVE) * FD_SHARE);
  const perClient = limit - FD_RESERVE;
  if (perServe < 1) throw new Error(`open-files limit ${limit} leaves no room for sockets`);
  const clientProcesses = Math.ceil(sockets / perClient);
  const share = Math.ceil(sockets / clientProcesses);
  const addressesPerClient = Math.ceil(share / Math.floor(portsPerAddress() * PORTS_SHARE));
  if (FIRST_ADDRESS + clientProcesses * addressesPerClient - 1 > LAST_ADDRESS)
    throw new Error(`${sockets} sockets need more than 127.0.0.${FIRST_ADDRESS}-${LAST_ADDRESS}`);
  const serveProcesses = Math.ceil(sockets / perServe);
  log(
    `${sockets} sockets: ${serveProcesses} serve and ${clientProcesses} client processes, ${addressesPerClient} ` +
      `source addresses per client (open-files limit ${limit})`,
  );
  return { serveProcesses, clientProcesses, share, addressesPerClient };
}

function startClients(count: number, onTurn: (bookingId: string, atMs: number) => void): Client[] {
  return Array.from({ length: count }, () => {
    const child = fork(CLIENT_SCRIPT, [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new Client(child, onTurn);
  });
}

/** The releases, with the Redis commands they cost: all Redis ran (INFO commandstats) and what the serve processes sent (MONITOR). */
async function measureMoves(
  redis: Redis,
  own: Redis[],
  releases: () => Promise<Awaited<ReturnType<typeof release>>>,
  moves: number,
  pids: { serves: number[]; clients: number[] },
) {
  const cpuUs = (of: number[]) => sum(of.map((pid) => processCpuUs(pid) ?? 0));
  const serveCalls = await watchServeCalls(redis, own);
  const before = await commandCalls(redis);
  const [serveStartUs, clientStartUs, startMs] = [cpuUs(pids.serves), cpuUs(pids.clients), Date.now()];
  const released = await releases();
  await sleep(SETTLE_MS);
  const cpu = {
    serveUs: cpuUs(pids.serves) - serveStartUs,
    clientUs: cpuUs(pids.clients) - clientStartUs,
    elapsedMs: Date.now() - startMs,
  };
  const after = await commandCalls(redis);
  serveCalls.stop();
  // INFO and MONITOR are this bench asking.
  const deltas = [...after]
    .filter(([name]) => name !== "info" && name !== "monitor")
    .map(([name, count]): [string, number] => [name, count - (before.get(name) ?? 0)]);
  const commands = perMove(new Map(deltas), moves);
  const fromServes = perMove(serveCalls.counts, moves);
  const redisPerMove = {
    moves,
    commandsPerMove: commands.total,
    commandsByName: commands.byName,
    serveCallsPerMove: fromServes.total,
    serveCallsByName: fromServes.byName,
  };
  return { released, redis: redisPerMove, cpu };
}

export async function runWaitingRoom(options: WaitingRoomOptions): Promise<WaitingRoomResult> {
  const startedAt = new Date().toISOString();
  const { serveProcesses, clientProcesses, share, addressesPerClient } = layout(options.sockets);
  let clients: Client[] = [];
  const redis = new Redis(options.redisUrl);
  const engineRedis = new Redis(options.redisUrl, { enableAutoPipelining: true });
  let serves: Proc[] = [];
  let eventId: string | null = null;
  try {
    const started = await startServes(options, serveProcesses);
    serves = started.serves;
    eventId = await createEvent(`http://127.0.0.1:${started.port}`, options.tickets);
    const config = loadConfig({ ...started.env });
    const engine = new Engine(engineRedis, config);
    const { holders, waiting } = await buildLine(engine, eventId, options);

    const turnAtMs = new Map<string, number>();
    clients = startClients(clientProcesses, (bookingId, atMs) => turnAtMs.set(bookingId, atMs));
    const spread: Spread = { waiting, share, addresses: addressesPerClient, port: started.port };
    // A few sockets first: the line loaded, the code warm, so the memory measured is the sockets'.
    const warmMs = await connectClients(clients, spread, 0, WARM_SOCKETS);
    await sleep(SETTLE_RSS_MS);
    const rssBeforeBytes = serves.map(rssBytes);
    const warm = await collectReports(clients, share, 0, config.limits);
    const connectMs = warmMs + (await connectClients(clients, spread, WARM_SOCKETS, share));
    // Every socket has been sent its place; the serve processes' garbage settles.
    await sleep(SETTLE_RSS_MS);
    const rssAfterBytes = serves.map(rssBytes);
    const connected = await collectReports(clients, share, 0, config.limits);
    if (options.idleMs > 0) log(`every socket idle for ${options.idleMs / 1000} s`);
    await sleep(options.idleMs);

    const moves = () => release(engine, holders, waiting, turnAtMs, options);
    const pids = { serves: serves.map((serve) => serve.pid), clients: clients.map((client) => client.child.pid!) };
    const measured = await measureMoves(redis, [redis, engineRedis], moves, options.releases, pids);
    const reports = await settledReports(clients, share, options.releases, config.limits);
    const messages = Math.max(1, reports.messagesReceived - connected.messagesReceived);
    const { serveUs, clientUs, elapsedMs } = measured.cpu;
    const bytesPerSocket = Math.round(
      (sum(rssAfterBytes) - sum(rssBeforeBytes)) / Math.max(1, connected.open - warm.open),
    );
    const result: WaitingRoomResult = {
      sockets: options.sockets,
      serveProcesses,
      clientProcesses,
      addressesPerClient,
      connectMs,
      ...reports,
      memory: { rssBeforeBytes, rssAfterBytes, bytesPerSocket },
      redis: measured.redis,
      cpu: {
        serveUs,
        serveCores: Math.round((serveUs / (elapsedMs * 1000)) * 100) / 100,
        serveUsPerMessage: Math.round((serveUs / messages) * 10) / 10,
        clientUs,
        clientUsPerMessage: Math.round((clientUs / messages) * 10) / 10,
      },
      ...measured.released,
      serveExits: serves
        .filter((serve) => serve.child.exitCode !== null || serve.child.signalCode !== null)
        .map((serve) => ({
          name: serve.name,
          exit: serve.child.exitCode ?? serve.child.signalCode!,
          logTail: serve.tail(40),
        })),
      startedAt,
    };
    mkdirSync(dirname(options.outFile), { recursive: true });
    writeFileSync(options.outFile, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  } finally {
    for (const client of clients) if (client.child.exitCode === null) client.command({ type: "close" });
    await Promise.all(clients.map((client) => new Promise((resolve) => client.child.once("exit", resolve))));
    await stopAll(serves);
    if (eventId !== null) await dropEvent(redis, eventId);
    redis.disconnect();
    engineRedis.disconnect();
  }
}

/**
 * Counts, by command name, what other clients than the bench's own connections send Redis
 * (MONITOR names a command run inside a script "lua" and leaves it out here).
 */
async function watchServeCalls(redis: Redis, own: Redis[]): Promise<{ counts: Map<string, number>; stop: () => void }> {
  const ownAddresses = new Set(
    await Promise.all(
      own.map(async (connection) => /addr=(\S+)/.exec(String(await connection.call("CLIENT", "INFO")))![1]!),
    ),
  );
  const counts = new Map<string, number>();
  const monitor = await redis.monitor();
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    if (source === "lua" || ownAddresses.has(source)) return;
    const name = args[0]!.toLowerCase();
    counts.set(name, (counts.get(name) ?? 0) + 1);
  });
  return { counts, stop: () => monitor.disconnect() };
}

const HELP = `npm run bench:waiting-room -- [options]

  --sockets N         WebSockets following a waiting booking each (default 100000)
  --releases N        holds cancelled one at a time, each timed to the served person's turn (default 100)
  --idle-seconds S    every socket left idle this long before the releases; the server pings
                      sockets idle for its idle timeout, and none may be dropped (default 60)
  --redis-url U       Redis of the engine and the bench (default $REDIS_URL or local)
  --database-url U    PostgreSQL database of the engine (default $DATABASE_URL or onsale_bench)
  --help              prints this

Results: bench/results/waiting-room.json
`;

function wholeNumber(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`--${name}: a whole number from ${min} to ${max}`);
  return value;
}

function printResult(result: WaitingRoomResult): void {
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  const json = JSON.stringify;
  const lag = result.turnLagMs;
  process.stdout.write(
    [
      `sockets                      ${result.sockets}: ${result.open} open at the end, ${result.failedSockets} failed ${json(result.failures)}, ${result.closedEarly} closed early ${json(result.closes)}`,
      `  connecting                 ${(result.connectMs / 1000).toFixed(1)} s (${result.serveProcesses} serve, ${result.clientProcesses} client processes)`,
      `  updated / turns / pings    ${result.updated} got a later message, ${result.turns} their turn, ${result.pings} pings answered`,
      `memory per socket (serve)    ${result.memory.bytesPerSocket} bytes  (RSS ${mib(sum(result.memory.rssBeforeBytes))} → ${mib(sum(result.memory.rssAfterBytes))} MiB)`,
      `Redis per line move          ${result.redis.commandsPerMove.toFixed(1)} commands run (INFO commandstats, the release and its script's commands included): ${json(result.redis.commandsByName)}`,
      `  sent by serve processes    ${result.redis.serveCallsPerMove.toFixed(2)} (MONITOR): ${json(result.redis.serveCallsByName)}`,
      `CPU while the line moved     serve ${result.cpu.serveCores} cores, ${result.cpu.serveUsPerMessage} µs per message sent; clients ${result.cpu.clientUsPerMessage} µs per message read`,
      `release → "your turn" (ms)   p50 ${lag.p50.toFixed(1)}  p99 ${lag.p99.toFixed(1)}  max ${lag.max.toFixed(1)} (${lag.samples.length} releases)`,
      `turns missed                 ${result.turnsMissed} (the served person's socket had failed or closed)`,
      `wrong last places            ${result.wrongPositions} (further than the step from the true place, ${((SETTLE_MS + result.settleMs) / 1000).toFixed(1)} s after the last release); messages ${result.messagesReceived}`,
      `serve processes exited       ${result.serveExits.length === 0 ? "none" : json(result.serveExits)}`,
      `written to ${OUT_FILE}`,
      "",
    ].join("\n"),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sockets: { type: "string", default: "100000" },
      releases: { type: "string", default: "100" },
      "idle-seconds": { type: "string", default: "60" },
      "redis-url": { type: "string", default: DEFAULTS.redisUrl },
      "database-url": { type: "string", default: DEFAULTS.databaseUrl },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const sockets = wholeNumber("sockets", values.sockets, 1, 10_000_000);
  const result = await runWaitingRoom({
    sockets,
    tickets: 10,
    releases: wholeNumber("releases", values.releases, 1, sockets),
    releaseGapMs: 200,
    idleMs: wholeNumber("idle-seconds", values["idle-seconds"], 0, 3600) * 1000,
    redisUrl: values["redis-url"],
    databaseUrl: values["database-url"],
    bossSchema: "pgboss_bench",
    outFile: OUT_FILE,
  });
  printResult(result);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
