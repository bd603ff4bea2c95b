import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../bin/app.js";
import {
  Client,
  engineEnv,
  inParallel,
  scenarioDatabase,
  sleep,
  startRedis,
  startRole,
  verifyScenario,
  type Proc,
  type RedisServer,
} from "./support.js";

// HTTP processes die and restart under load: clients that retry with the same
// Idempotency-Key get the same booking, and nothing is doubled or lost.

let redis: RedisServer;
let databaseUrl: string;
const procs: Proc[] = [];

beforeAll(async () => {
  redis = await startRedis();
  databaseUrl = await scenarioDatabase("onsale_faults_http");
});

afterAll(async () => {
  for (const proc of procs) proc.kill("SIGKILL");
  await redis.stop();
});

async function role(name: string, args: string[], port: number, extra: Record<string, string> = {}): Promise<Proc> {
  const proc = await startRole(name, args, engineEnv(redis.url, databaseUrl, port, extra));
  procs.push(proc);
  return proc;
}

/** The pids of the HTTP processes a `serve --workers` primary reported as started. */
function workerPids(primary: Proc): number[] {
  return primary.lines
    .filter((line) => line.includes('"engine started"'))
    .map((line) => JSON.parse(line).pid as number);
}

describe("HTTP processes under faults", () => {
  it("SIGKILL of an HTTP process under load: retried bookings keep their booking, none doubled or lost", async () => {
    const port = await freePort();
    const primary = await role("serve", ["serve", "--workers", "2"], port);
    const worker = await role("work", ["work"], port + 2);
    const client = new Client(`http://127.0.0.1:${port}`);
    const eventId = await client.createEvent(300);
    const people = 600;
    let killed = false;
    const answers = await inParallel(people, 24, async (index) => {
      if (index === 150 && !killed) {
        killed = true;
        process.kill(workerPids(primary)[0]!, "SIGKILL");
      }
      return client.book(eventId, `person-${index}`);
    });
    expect(killed).toBe(true);
    // Every person has one answer; asking again with the same key gives the same booking.
    expect(answers.every((answer) => [201, 202, 409].includes(answer.status))).toBe(true);
    const again = await inParallel(people, 24, (index) => client.book(eventId, `person-${index}`));
    for (const [index, answer] of again.entries()) {
      if (answers[index]!.status !== 409) expect(answer.body.id).toBe(answers[index]!.body.id);
    }
    expect(answers.filter((a) => a.status === 201)).toHaveLength(300);
    expect(primary.lines.some((line) => line.includes("HTTP process died; starting another"))).toBe(true);
    const invariants = await verifyScenario(redis.url, databaseUrl, eventId);
    expect(invariants).toMatchObject({ ok: true, oversold: 0, fcfsViolations: 0, missingRows: 0, duplicateRows: 0 });
    expect(invariants.redis.held).toBe(300);
    worker.kill("SIGTERM");
    primary.kill("SIGTERM");
    await Promise.all([worker.exited, primary.exited]);
  });

  it("rolling restart with SIGTERM: the old process drains, the new one serves, no request is lost", async () => {
    const port = await freePort();
    const old = await role("serve-old", ["serve", "--workers", "1"], port, { SHUTDOWN_DRAIN_SECONDS: "10" });
    const client = new Client(`http://127.0.0.1:${port}`);
    const eventId = await client.createEvent(2000);
    let fresh: Proc | null = null;
    const answers = await inParallel(1500, 16, async (index) => {
      if (index === 400 && fresh === null) {
        fresh = await role("serve-new", ["serve", "--workers", "1"], port);
        old.kill("SIGTERM");
      }
      return client.book(eventId, `roller-${index}`);
    });
    expect(await old.exited).toBe(0);
    expect(old.lines.some((line) => line.includes("stopped with requests still in flight"))).toBe(false);
    expect(answers.every((answer) => answer.status === 201)).toBe(true);
    const retried = answers.filter((answer) => answer.attempts > 1).length;
    console.log(
      `rolling restart: 1500 bookings, ${retried} needed a retry (connection closed by the draining process)`,
    );
    const worker = await role("work", ["work"], port + 2);
    const invariants = await verifyScenario(redis.url, databaseUrl, eventId);
    expect(invariants).toMatchObject({ ok: true, oversold: 0, missingRows: 0, duplicateRows: 0 });
    expect(invariants.redis.held).toBe(1500);
    worker.kill("SIGTERM");
    fresh!.kill("SIGTERM");
  });

  it("1,000 copies of one webhook at once: one payment row, one paid booking", async () => {
    const port = await freePort();
    const server = await role("serve-webhooks", ["serve"], port);
    const client = new Client(`http://127.0.0.1:${port}`);
    const eventId = await client.createEvent(10);
    const held = await client.book(eventId, "dup-storm");
    expect(held.status).toBe(201);
    const answers = await inParallel(1000, 1000, () => client.pay(eventId, held.body).then((r) => r.status));
    // 2xx, or 503 that the gateway would deliver again; never anything else.
    expect(answers.every((status) => status === 200 || status === 503)).toBe(true);
    expect(answers.filter((status) => status === 200).length).toBeGreaterThan(0);
    const distinct = await inParallel(200, 200, (index) =>
      client.pay(eventId, held.body, `_${index}`).then((r) => r.status),
    );
    expect(distinct.every((status) => status === 200 || status === 503)).toBe(true);
    await sleep(200);
    const { createPool } = await import("../../sql/db.js");
    const pool = createPool(databaseUrl, 1);
    const { rows } = await pool.query(
      "SELECT status, count(*)::int AS n FROM payments WHERE booking_id = $1 GROUP BY status ORDER BY status",
      [held.body.id],
    );
    await pool.end();
    expect(rows.find((row) => row.status === "applied")?.n).toBe(1);
    expect(rows.reduce((sum, row) => sum + row.n, 0)).toBeLessThanOrEqual(201);
    const worker = await role("work", ["work"], port + 2);
    const invariants = await verifyScenario(redis.url, databaseUrl, eventId);
    expect(invariants).toMatchObject({ ok: true, missingRows: 0, duplicateRows: 0 });
    expect(invariants.redis.paid).toBe(1);
    worker.kill("SIGTERM");
    server.kill("SIGTERM");
  });

  it("stalled clients (half-sent headers and bodies) do not starve others, and are cut off", async () => {
    const port = await freePort();
    const server = await role("serve-slowloris", ["serve"], port);
    const client = new Client(`http://127.0.0.1:${port}`);
    const eventId = await client.createEvent(1000);
    const { connect } = await import("node:net");
    const stalled = await Promise.all(
      Array.from(
        { length: 200 },
        (_, i) =>
          new Promise<{ closedAtMs: Promise<number> }>((resolve) => {
            const socket = connect(port, "127.0.0.1", () => {
              // Half the sockets stop inside their headers, half inside a body they announced.
              socket.write(
                i % 2 === 0
                  ? "POST /bookings HTTP/1.1\r\nHost: x\r\nContent-Ty"
                  : `POST /bookings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"userId":`,
              );
              resolve({ closedAtMs: new Promise((closed) => socket.once("close", () => closed(Date.now()))) });
            });
            socket.on("error", () => undefined);
          }),
      ),
    );
    const startedAtMs = Date.now();
    const answers = await inParallel(200, 10, (index) => client.book(eventId, `patient-${index}`, 1));
    const servedInMs = Date.now() - startedAtMs;
    expect(answers.every((answer) => answer.status === 201)).toBe(true);
    console.log(`200 bookings answered in ${servedInMs} ms beside 200 stalled connections`);
    // uWebSockets.js drops a connection that sends nothing for its idle timeout (10 s).
    const closed = await Promise.all(stalled.map((s) => s.closedAtMs));
    const cutOffAfterMs = Math.max(...closed) - startedAtMs;
    console.log(`every stalled connection closed by the server within ${cutOffAfterMs} ms`);
    expect(cutOffAfterMs).toBeLessThan(30_000);
    server.kill("SIGTERM");
  });
});
