import { STATUS_CODES } from "node:http";
import type { HttpRequest, HttpResponse, TemplatedApp } from "uWebSockets.js";
import { metrics } from "../engine/metrics.js";
import type { Logger } from "../engine/logger.js";
import { Problem, problems, toProblem } from "./problems.js";

// The one place that talks to uWebSockets.js for plain HTTP routes: reads what the handler
// needs synchronously (uWS frees the request after the handler returns), reads the body
// under a limit, survives aborted clients, and writes replies corked.

export interface RouteInput {
  params: string[];
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Buffer;
  /** The client's address; empty unless the route asks for it (RouteSpec.clientIp). */
  clientIp: string;
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
  /** Lower-case header names the handler reads. */
  headers?: readonly string[];
  /**
   * Read the client's address: the socket's, or with trustProxy (TRUST_PROXY=1, only
   * behind a proxy that sets it) the first X-Forwarded-For entry.
   */
  clientIp?: { trustProxy: boolean };
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

export function route(app: TemplatedApp, spec: RouteSpec, log: Logger, inFlight: InFlight): void {
  const paramCount = (spec.pattern.match(/:/g) ?? []).length;
  app[spec.method](spec.pattern, (res: HttpResponse, req: HttpRequest) => {
    const state = { aborted: false, done: false };
    inFlight.enter();
    res.onAborted(() => {
      state.aborted = true;
      if (!state.done) inFlight.leave();
    });
    const instance = req.getUrl();
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
    const contentLength = req.getHeader("content-length");
    const input: RouteInput = {
      params,
      query: new URLSearchParams(req.getQuery() ?? ""),
      headers,
      body: EMPTY,
      clientIp: spec.clientIp ? clientAddress(res, req, spec.clientIp.trustProxy) : "",
    };

    const finish = (reply: Reply, closeConnection = inFlight.draining): void => {
      if (state.aborted || state.done) return;
      state.done = true;
      inFlight.leave();
      metrics.httpRequests.inc({ route: spec.name, status: reply.status });
      res.cork(() => writeReply(res, reply, closeConnection));
    };

    const fail = (error: unknown, closeConnection = inFlight.draining): void => {
      let problem = toProblem(error);
      if (problem === null) {
        log.error({ err: error, route: spec.name }, "request failed");
        problem = problems.internal();
      }
      finish(problemReply(problem, instance), closeConnection);
    };

    const run = (): void => {
      try {
        Promise.resolve(spec.handler(input)).then(finish, fail);
      } catch (error) {
        fail(error);
      }
    };

    if (malformed) {
      // A body we will not read: close the connection rather than leave it unread.
      fail(problems.badRequest("The path holds malformed percent-encoding."), spec.bodyLimit !== undefined);
      return;
    }
    if (spec.bodyLimit === undefined) {
      run();
      return;
    }
    const limit = spec.bodyLimit;
    if (Number(contentLength) > limit) {
      fail(problems.bodyTooLarge(limit), true);
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    res.onData((chunk, isLast) => {
      if (state.done) return;
      received += chunk.byteLength;
      if (received > limit) {
        fail(problems.bodyTooLarge(limit), true);
        return;
      }
      // uWS reuses the chunk's memory after this callback returns: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (isLast) {
        input.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        run();
      }
    });
  });
}

/** Longest client address kept; an X-Forwarded-For entry past it falls back to the socket's. */
const CLIENT_IP_CHARS = 64;
const ADDRESS = /^[0-9A-Fa-f.:]+$/;

function clientAddress(res: HttpResponse, req: HttpRequest, trustProxy: boolean): string {
  if (trustProxy) {
    const first = req.getHeader("x-forwarded-for").split(",")[0]!.trim();
    if (first.length > 0 && first.length <= CLIENT_IP_CHARS && ADDRESS.test(first)) return first;
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
