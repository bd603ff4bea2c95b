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
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Buffer;
  /** The client's address; empty unless the route asks for it (RouteSpec.clientIp). */
  clientIp: string;
  /** The booking the request's token opens; set on routes whose auth is "booking". */
  booking: Booking | null;
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

export function route(
  app: TemplatedApp,
  spec: RouteSpec,
  log: Logger,
  inFlight: InFlight,
  authorizer: Authorizer | null,
): void {
  if (!AUTHS.includes(spec.auth)) throw new Error(`route ${spec.name} declares no authorization`);
  if (spec.auth !== "none" && authorizer === null) throw new Error(`route ${spec.name} needs an authorizer`);
  const paramCount = (spec.pattern.match(/:/g) ?? []).length;
  const tallies = new Map<number, Tally>();
  const answered = (status: number): Tally => {
    let tally = tallies.get(status);
    if (tally === undefined) {
      tally = metrics.httpRequests.tally({ route: spec.name, status });
      tallies.set(status, tally);
    }
    return tally;
  };
  app[spec.method](spec.pattern, (res: HttpResponse, req: HttpRequest) => {
    const exchange = new Exchange(res, spec, log, inFlight, answered, req.getUrl());
    const { input, malformed, authorization, contentLength } = readRequest(res, req, spec, paramCount);
    const hasBody = spec.bodyLimit !== undefined;
    if (malformed) {
      // A body we will not read: close the connection rather than leave it unread.
      exchange.fail(problems.badRequest("The path holds malformed percent-encoding."), hasBody);
      return;
    }
    if (spec.auth === "admin") {
      try {
        authorizer!.admin(authorization);
      } catch (error) {
        exchange.refuse(error, hasBody);
        return;
      }
    }
    const run = (): void => {
      const authorized = spec.auth === "booking" ? openBooking(authorizer!, spec, input, authorization) : null;
      if (authorized === null) exchange.run(input);
      else
        authorized.then(
          () => exchange.run(input),
          (error: unknown) => exchange.refuse(error),
        );
    };
    if (!hasBody) run();
    else
      readBody(res, exchange, spec.bodyLimit!, contentLength, (body) => {
        input.body = body;
        run();
      });
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

  constructor(
    private readonly res: HttpResponse,
    private readonly spec: RouteSpec,
    private readonly log: Logger,
    private readonly inFlight: InFlight,
    /** The route's count of answers with a status. */
    private readonly answered: (status: number) => Tally,
    private readonly instance: string,
  ) {
    inFlight.enter();
    res.onAborted(() => {
      this.aborted = true;
      if (!this.done) inFlight.leave();
    });
  }

  finish(reply: Reply, closeConnection = this.inFlight.draining): void {
    if (this.aborted || this.done) return;
    this.done = true;
    this.inFlight.leave();
    this.answered(reply.status).inc();
    this.res.cork(() => writeReply(this.res, reply, closeConnection));
  }

  fail(error: unknown, closeConnection = this.inFlight.draining): void {
    const repeated = typeof error === "object" && error !== null ? REPEATED_REFUSALS.get(error) : undefined;
    if (repeated !== undefined && repeated.instance === this.instance) {
      this.finish(repeated.reply, closeConnection);
      return;
    }
    const problem = toProblem(error);
    if (problem === null) {
      this.log.error({ err: error, route: this.spec.name }, "request failed");
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
  refuse(error: unknown, closeConnection = this.inFlight.draining): void {
    const problem = toProblem(error);
    if (this.spec.refusal !== undefined && problem !== null && problem.status < 500)
      this.finish(this.spec.refusal, closeConnection);
    else this.fail(error, closeConnection);
  }

  run(input: RouteInput): void {
    try {
      Promise.resolve(this.spec.handler(input)).then(
        (reply) => this.finish(reply),
        (error: unknown) => this.fail(error),
      );
    } catch (error) {
      this.fail(error);
    }
  }
}

/** What the handler needs from the request, read now: uWS frees it when this callback returns. */
function readRequest(res: HttpResponse, req: HttpRequest, spec: RouteSpec, paramCount: number) {
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
  const headers: Record<string, string> = {};
  for (const name of spec.headers ?? []) headers[name] = req.getHeader(name);
  const input: RouteInput = {
    params,
    query: new URLSearchParams(req.getQuery() ?? ""),
    headers,
    body: EMPTY,
    clientIp: spec.clientIp ? clientAddress(res, req, spec.clientIp.trustProxy) : "",
    booking: null,
  };
  const authorization = spec.auth === "none" ? "" : req.getHeader("authorization");
  return { input, malformed, authorization, contentLength: req.getHeader("content-length") };
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

/** Reads the body under the route's limit; an oversized one is refused and its connection closed. */
function readBody(
  res: HttpResponse,
  exchange: Exchange,
  limit: number,
  contentLength: string,
  then: (body: Buffer) => void,
): void {
  if (Number(contentLength) > limit) {
    exchange.fail(problems.bodyTooLarge(limit), true);
    return;
  }
  const chunks: Buffer[] = [];
  let received = 0;
  res.onData((chunk, isLast) => {
    if (exchange.done) return;
    received += chunk.byteLength;
    if (received > limit) {
      exchange.fail(problems.bodyTooLarge(limit), true);
      return;
    }
    // uWS reuses the chunk's memory after this callback returns: copy it (once, into pooled memory).
    chunks.push(Buffer.copyBytesFrom(new Uint8Array(chunk)));
    if (isLast) then(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  });
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
  return Buffer.from(res.getRemoteAddressAsText()).toString("latin1");
}

/** Writes a whole reply; the caller corks (a route's answer, or a refused WebSocket upgrade). */
export function writeReply(res: HttpResponse, reply: Reply, closeConnection = false): void {
  res.writeStatus(statusLine(reply.status));
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.writeHeader(name, value);
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
