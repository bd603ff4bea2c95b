import { STATUS_CODES } from "node:http";
import type { HttpRequest, HttpResponse, TemplatedApp } from "uWebSockets.js";
import { metrics, type Tally } from "../engine/metrics.js";
import type { Booking } from "../engine/engine.js";
import type { Logger } from "../engine/logger.js";
import { AUTHS, bearer, type Auth, type Authorizer } from "./auth.js";
import { PAGE_HEADERS } from "./pages.js";
import { bookingIdParam } from "./params.js";
import { type Problem, problems, toProblem } from "./problems.js";

// The one place that talks to uWebSockets.js for plain HTTP routes: reads what the handler
// needs synchronously (uWS frees the request after the handler returns), reads the body
// under a limit, survives aborted clients, and writes replies corked.

interface RouteInput {
  params: string[];
  /** The query string, parsed when first read (most routes never read it). */
  readonly query: URLSearchParams;
  headers: Record<string, string>;
  body: Buffer;
  /** The client's address; empty unless the route asks for it (RouteSpec.clientIp). */
  clientIp: string;
  /** The booking the request's token opens; set on routes whose auth is "booking". */
  booking: Booking | null;
}

/** What the handler gets, read from the request while uWS still holds it. */
class Input implements RouteInput {
  body = EMPTY;
  booking: Booking | null = null;
  private parsedQuery: URLSearchParams | null = null;

  constructor(
    readonly params: string[],
    readonly headers: Record<string, string>,
    readonly clientIp: string,
    private readonly rawQuery: string,
  ) {}

  get query(): URLSearchParams {
    this.parsedQuery ??= new URLSearchParams(this.rawQuery);
    return this.parsedQuery;
  }
}

export interface Reply {
  status: number;
  json?: unknown;
  html?: string;
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface RouteSpec {
  method: "get" | "post" | "patch" | "del";
  pattern: string;
  /** Metric label; stable, low-cardinality. */
  name: string;
  /** Who may call it (http/auth.ts); checked before the handler runs. */
  auth: Auth;
  /** Where a booking route's token is: the Authorization bearer (default) or ?token= (pages reached by link). */
  bookingTokenIn?: "bearer" | "query";
  /** A page's answer when authorization fails; API routes answer problem+json. */
  refusal?: Reply;
  /** Lower-case header names the handler reads. */
  headers?: readonly string[];
  /**
   * Read the client's address: the socket's, or with trustProxy N (TRUST_PROXY, the proxies in
   * front of the server) the X-Forwarded-For entry N from the right, the one the outermost
   * proxy appended; entries further left are whatever the client wrote.
   */
  clientIp?: { trustProxy: number };
  /** Body limit in bytes; absent for routes without a body. */
  bodyLimit?: number;
  handler: (input: RouteInput) => Promise<Reply> | Reply;
}

const STATUS_LINES = new Map<number, string>(
  Object.entries(STATUS_CODES).map(([code, text]) => [Number(code), `${code} ${text}`]),
);
const EMPTY = Buffer.alloc(0);

function statusLine(status: number): string {
  return STATUS_LINES.get(status) ?? String(status);
}

/**
 * The requests one server has in flight, so that on shutdown it can stop accepting, let them
 * finish, and only then exit. While draining, every answer closes its connection, so a
 * keep-alive client opens its next request on a process that is staying.
 */
export class InFlight {
  count = 0;
  draining = false;
  private waiting: (() => void)[] = [];

  enter(): void {
    this.count += 1;
  }

  leave(): void {
    this.count -= 1;
    if (this.count === 0) for (const wake of this.waiting.splice(0)) wake();
  }

  /** Resolves true once nothing is in flight, or false after timeoutMs. */
  drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiting.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

/** What every request of one route shares, built once when the route is registered. */
interface RouteContext {
  spec: RouteSpec;
  log: Logger;
  inFlight: InFlight;
  authorizer: Authorizer | null;
  paramCount: number;
  /** The route's count of answers with a status. */
  answered: (status: number) => Tally;
}

export function route(
  app: TemplatedApp,
  spec: RouteSpec,
  log: Logger,
  inFlight: InFlight,
  authorizer: Authorizer | null,
): void {
  if (!AUTHS.includes(spec.auth)) throw new Error(`route ${spec.name} declares no authorization`);
  if (spec.auth !== "none" && authorizer === null) throw new Error(`route ${spec.name} needs an authorizer`);
  const tallies = new Map<number, Tally>();
  const answered = (status: number): Tally => {
    let tally = tallies.get(status);
    if (tally === undefined) {
      tally = metrics.httpRequests.tally({ route: spec.name, status });
      tallies.set(status, tally);
    }
    return tally;
  };
  const paramCount = (spec.pattern.match(/:/g) ?? []).length;
  const context: RouteContext = { spec, log, inFlight, authorizer, paramCount, answered };
  app[spec.method](spec.pattern, (res: HttpResponse, req: HttpRequest) => {
    new Exchange(res, context, req.getUrl()).begin(req);
  });
}

/**
 * The written reply of each refusal object, by the object: one thrown again (the engine's
 * sold-out memo throws one object) is answered without building its problem again.
 */
const REPEATED_REFUSALS = new WeakMap<object, { instance: string; reply: Reply }>();

/** One request's answer: written once, unless the client went away first. */
class Exchange {
  aborted = false;
  done = false;
  private input: Input | null = null;
  private authorization = "";

  constructor(
    private readonly res: HttpResponse,
    private readonly route: RouteContext,
    private readonly instance: string,
  ) {
    route.inFlight.enter();
    res.onAborted(() => {
      this.aborted = true;
      if (!this.done) this.route.inFlight.leave();
    });
  }

  /** Reads what the handler needs now (uWS frees the request when its callback returns), then the body. */
  begin(req: HttpRequest): void {
    const { spec, paramCount } = this.route;
    const hasBody = spec.bodyLimit !== undefined;
    const params: string[] = [];
    let malformed = false;
    for (let i = 0; i < paramCount; i++) {
      const raw = req.getParameter(i) ?? "";
      try {
        params.push(decodeURIComponent(raw));
      } catch {
        // "%" or "%zz" in the path: a client error, and it must not escape as an exception.
        malformed = true;
        params.push(raw);
      }
    }
    if (malformed) {
      // A body we will not read: close the connection rather than leave it unread.
      this.fail(problems.badRequest("The path holds malformed percent-encoding."), hasBody);
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of spec.headers ?? []) headers[name] = req.getHeader(name);
    const clientIp = spec.clientIp ? clientAddress(this.res, req, spec.clientIp.trustProxy) : "";
    this.input = new Input(params, headers, clientIp, req.getQuery() ?? "");
    if (spec.auth !== "none") this.authorization = req.getHeader("authorization");
    if (spec.auth === "admin") {
      try {
        this.route.authorizer!.admin(this.authorization);
      } catch (error) {
        this.refuse(error, hasBody);
        return;
      }
    }
    if (hasBody) this.readBody(spec.bodyLimit!, req.getHeader("content-length"));
    else this.authorize();
  }

  /** Reads the body under the route's limit; an oversized one is refused and its connection closed. */
  private readBody(limit: number, contentLength: string): void {
    if (Number(contentLength) > limit) {
      this.fail(problems.bodyTooLarge(limit), true);
      return;
    }
    let chunks: Buffer[] | null = null;
    let received = 0;
    this.res.onData((chunk, isLast) => {
      if (this.done) return;
      received += chunk.byteLength;
      if (received > limit) {
        this.fail(problems.bodyTooLarge(limit), true);
        return;
      }
      // uWS reuses the chunk's memory after this callback returns: copy it (once, into pooled memory).
      const copy = Buffer.copyBytesFrom(new Uint8Array(chunk));
      if (isLast && chunks === null) this.input!.body = copy;
      else {
        chunks ??= [];
        chunks.push(copy);
        if (isLast) this.input!.body = Buffer.concat(chunks);
      }
      if (isLast) this.authorize();
    });
  }

  /** A booking route opens the booking its token names first; then the handler runs. */
  private authorize(): void {
    if (this.route.spec.auth === "booking")
      openBooking(this.route.authorizer!, this.route.spec, this.input!, this.authorization).then(
        () => void this.run(),
        (error: unknown) => this.refuse(error),
      );
    else void this.run();
  }

  private async run(): Promise<void> {
    let reply: Reply;
    try {
      reply = await this.route.spec.handler(this.input!);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.finish(reply);
  }

  finish(reply: Reply, closeConnection = this.route.inFlight.draining): void {
    if (this.aborted || this.done) return;
    this.done = true;
    this.route.inFlight.leave();
    this.route.answered(reply.status).inc();
    corked.res = this.res;
    corked.reply = reply;
    corked.closeConnection = closeConnection;
    this.res.cork(writeCorked);
  }

  fail(error: unknown, closeConnection = this.route.inFlight.draining): void {
    const repeated = typeof error === "object" && error !== null ? REPEATED_REFUSALS.get(error) : undefined;
    if (repeated !== undefined && repeated.instance === this.instance) {
      this.finish(repeated.reply, closeConnection);
      return;
    }
    const problem = toProblem(error);
    if (problem === null) {
      this.route.log.error({ err: error, route: this.route.spec.name }, "request failed");
      this.finish(problemReply(problems.internal(), this.instance), closeConnection);
      return;
    }
    const reply = problemReply(problem, this.instance);
    if (typeof error === "object" && error !== null) {
      const written: Reply = {
        status: reply.status,
        text: JSON.stringify(reply.json),
        contentType: reply.contentType,
        headers: reply.headers,
      };
      REPEATED_REFUSALS.set(error, { instance: this.instance, reply: written });
      this.finish(written, closeConnection);
    } else this.finish(reply, closeConnection);
  }

  /** Authorization failed: a page answers its own refusal, an API route problem+json. */
  refuse(error: unknown, closeConnection = this.route.inFlight.draining): void {
    const problem = toProblem(error);
    if (this.route.spec.refusal !== undefined && problem !== null && problem.status < 500)
      this.finish(this.route.spec.refusal, closeConnection);
    else this.fail(error, closeConnection);
  }
}

/**
 * The reply res.cork is about to write. Handed over here, not in a closure, so that a reply
 * allocates no function: cork runs its callback at once, and it is cleared after.
 */
const corked: { res: HttpResponse | null; reply: Reply | null; closeConnection: boolean } = {
  res: null,
  reply: null,
  closeConnection: false,
};

function writeCorked(): void {
  const { res, reply, closeConnection } = corked;
  corked.res = null;
  corked.reply = null;
  writeReply(res!, reply!, closeConnection);
}

/** Checks a booking route's token against the booking its path names, and hands the booking on. */
async function openBooking(
  authorizer: Authorizer,
  spec: RouteSpec,
  input: RouteInput,
  authorization: string,
): Promise<void> {
  const token = spec.bookingTokenIn === "query" ? (input.query.get("token") ?? "") : bearer(authorization);
  input.booking = await authorizer.booking(bookingIdParam(input.params[0]), token);
}

/** Longest client address kept; an X-Forwarded-For entry past it falls back to the socket's. */
const CLIENT_IP_CHARS = 64;
const ADDRESS = /^[0-9A-Fa-f.:]+$/;

/** The client's address (see RouteSpec.clientIp); read it inside the uWS handler, before any await. */
export function clientAddress(res: HttpResponse, req: HttpRequest, proxyHops: number): string {
  if (proxyHops > 0) {
    // Every X-Forwarded-For line, in order: a proxy may add its own line rather than append.
    const entries: string[] = [];
    req.forEach((name, value) => {
      if (name === "x-forwarded-for") entries.push(...value.split(","));
    });
    const entry = entries[entries.length - proxyHops]?.trim() ?? "";
    if (entry.length > 0 && entry.length <= CLIENT_IP_CHARS && ADDRESS.test(entry)) return entry;
  }
  return addressText(new Uint8Array(res.getRemoteAddress()));
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));
/** IPv4 addresses already written out, by their 32 bits: a request's address costs a lookup. */
const IPV4_TEXTS = new Map<number, string>();
const IPV4_TEXTS_MAX = 4096;

/**
 * uWS's getRemoteAddressAsText, written here from the binary address (which costs uWS less to
 * hand over): IPv4 as dotted decimal, IPv6 as eight groups of four lower-case hex digits.
 */
function addressText(bytes: Uint8Array): string {
  if (bytes.length === 4) {
    const bits = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
    let text = IPV4_TEXTS.get(bits);
    if (text === undefined) {
      if (IPV4_TEXTS.size >= IPV4_TEXTS_MAX) IPV4_TEXTS.clear();
      text = `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
      IPV4_TEXTS.set(bits, text);
    }
    return text;
  }
  if (bytes.length !== 16) return "";
  let text = "";
  for (let i = 0; i < 16; i += 2) text += (i === 0 ? "" : ":") + HEX[bytes[i]!]! + HEX[bytes[i + 1]!]!;
  return text;
}

/** Writes a whole reply; the caller corks (a route's answer, or a refused WebSocket upgrade). */
export function writeReply(res: HttpResponse, reply: Reply, closeConnection = false): void {
  res.writeStatus(statusLine(reply.status));
  const headers = reply.headers;
  if (headers !== undefined) for (const name in headers) res.writeHeader(name, headers[name]!);
  if (reply.json !== undefined) {
    res.writeHeader("Content-Type", reply.contentType ?? "application/json");
    res.end(JSON.stringify(reply.json), closeConnection);
  } else if (reply.html !== undefined) {
    for (const [name, value] of Object.entries(PAGE_HEADERS))
      if (reply.headers?.[name] === undefined) res.writeHeader(name, value);
    res.writeHeader("Content-Type", "text/html; charset=utf-8");
    res.end(reply.html, closeConnection);
  } else if (reply.text !== undefined) {
    res.writeHeader("Content-Type", reply.contentType ?? "text/plain; charset=utf-8");
    res.end(reply.text, closeConnection);
  } else {
    res.end(undefined, closeConnection);
  }
}

export function problemReply(problem: Problem, instance: string): Reply {
  return {
    status: problem.status,
    json: problem.body(instance),
    contentType: "application/problem+json",
    headers: problem.headers,
  };
}
