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

export function route(app: TemplatedApp, spec: RouteSpec, log: Logger): void {
  const paramCount = (spec.pattern.match(/:/g) ?? []).length;
  app[spec.method](spec.pattern, (res: HttpResponse, req: HttpRequest) => {
    const state = { aborted: false, done: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    const instance = req.getUrl();
    const params: string[] = [];
    for (let i = 0; i < paramCount; i++) params.push(decodeURIComponent(req.getParameter(i) ?? ""));
    const headers: Record<string, string> = {};
    for (const name of spec.headers ?? []) headers[name] = req.getHeader(name);
    const contentLength = req.getHeader("content-length");
    const input: RouteInput = {
      params,
      query: new URLSearchParams(req.getQuery() ?? ""),
      headers,
      body: EMPTY,
    };

    const finish = (reply: Reply, closeConnection = false): void => {
      if (state.aborted || state.done) return;
      state.done = true;
      metrics.httpRequests.inc({ route: spec.name, status: reply.status });
      res.cork(() => {
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
      });
    };

    const fail = (error: unknown, closeConnection = false): void => {
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

export function problemReply(problem: Problem, instance: string): Reply {
  return {
    status: problem.status,
    json: problem.body(instance),
    contentType: "application/problem+json",
    headers: problem.headers,
  };
}
