import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../bin/app.js";
import { bookingKey } from "../../engine/keys.js";
import { createPool } from "../../sql/db.js";
import { startProc, type Proc as Child } from "../../testkit/processes.js";
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
} from "./support.js";

// Redis primary failover under an on-sale with payments flowing: a primary, a replica and a
// Sentinel of the scenario's own. The replica is cut off from the primary (a partition:
// its replication user is switched off) and falls behind, the primary dies, Sentinel promotes the replica. What the
// promoted replica lacks is measured; `cache warm` + `reconcile --repair` bring back every
// applied payment from PostgreSQL (or send it back), and no ticket is sold twice. The engine
// connects to one REDIS_URL, so its roles are started again on the promoted replica, as
// processes following Sentinel would reconnect.

const run = promisify(execFile);
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function track<T extends Proc | Child>(proc: T): T {
  cleanups.push(() => proc.kill("SIGKILL"));
  return proc;
}

const MASTER_NAME = "onsale";

// The replica signs in to the primary as a user of its own, so the scenario can cut it off (a
// partition) while the engine's connections go on.
const REPLICATION_USER = "replication";
const REPLICATION_PASSWORD = "replication-secret";

async function allowReplication(primaryUrl: string, on: boolean): Promise<void> {
  const admin = new Redis(primaryUrl);
  await admin.call(
    "ACL",
    "SETUSER",
    REPLICATION_USER,
    on ? "on" : "off",
    `>${REPLICATION_PASSWORD}`,
    "+psync",
    "+sync",
    "+replconf",
    "+ping",
  );
  if (!on) await admin.call("CLIENT", "KILL", "USER", REPLICATION_USER);
  admin.disconnect();
}

async function startReplica(primaryPort: number): Promise<{ url: string; port: number; proc: Child }> {
  const port = await freePort();
  // A replica writes the primary's snapshot to its directory while it syncs.
  const dir = mkdtempSync(join(tmpdir(), "onsale-faults-replica-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "no",
    "--replicaof",
    "127.0.0.1",
    String(primaryPort),
    "--masteruser",
    REPLICATION_USER,
    "--masterauth",
    REPLICATION_PASSWORD,
  ];
  const proc = track(
    await startProc({
      name: "replica",
      command: "redis-server",
      args,
      readyWhen: /MASTER <-> REPLICA sync: Finished with success/,
      readyTimeoutMs: 20_000,
    }),
  );
  return { url: `redis://127.0.0.1:${port}`, port, proc };
}

/** A Sentinel watching the primary: it declares it down after 500 ms without an answer. */
async function startSentinel(primaryPort: number): Promise<{ port: number; proc: Child }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "onsale-faults-sentinel-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, "sentinel.conf");
  writeFileSync(
    conf,
    [
      `port ${port}`,
      "bind 127.0.0.1",
      `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primaryPort} 1`,
      `sentinel down-after-milliseconds ${MASTER_NAME} 500`,
      `sentinel failover-timeout ${MASTER_NAME} 2000`,
      "",
    ].join("\n"),
  );
  const proc = track(
    await startProc({
      name: "sentinel",
      command: "redis-server",
      args: [conf, "--sentinel"],
      readyWhen: /\+monitor master/,
      readyTimeoutMs: 20_000,
    }),
  );
  return { port, proc };
}

/** Milliseconds per call, sorted. */
async function timed(count: number, call: (index: number) => Promise<void>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const startedAt = performance.now();
    await call(i);
    ms.push(performance.now() - startedAt);
  }
  return ms.sort((a, b) => a - b);
}

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

/** Books one ticket and pays for it, once each: no retries, so only acknowledged answers count. */
async function bookAndPay(
  client: Client,
  eventId: string,
  userId: string,
): Promise<{ hold: string | null; paid: string | null }> {
  const held = await client.book(eventId, userId, 1).catch(() => null);
  if (held?.status !== 201) return { hold: null, paid: null };
  const answer = await client.pay(eventId, held.body).catch(() => null);
  const outcome = answer?.status === 200 ? ((await answer.json()) as { outcome: string }).outcome : null;
  return { hold: held.body.id, paid: outcome === "paid" ? held.body.id : null };
}

describe("Redis primary failover", () => {
  it("a replica promoted by Sentinel lacks the last writes: every applied payment is restored from PostgreSQL or sent back, no ticket sold twice", async () => {
    const primary = await startRedis();
    cleanups.push(() => primary.stop());
    await allowReplication(primary.url, true);
    const replica = await startReplica(primary.port);
    const sentinel = await startSentinel(primary.port);
    const databaseUrl = await scenarioDatabase("onsale_faults_failover");
    const port = await freePort();
    const serve = track(await startRole("serve", ["serve"], engineEnv(primary.url, databaseUrl, port)));
    const work = track(await startRole("work", ["work"], engineEnv(primary.url, databaseUrl, port + 2)));
    const client = new Client(`http://127.0.0.1:${port}`);

    // What WAIT costs on the confirm path, with the replica healthy: the same payments through
    // a process that waits for one replica and one that does not.
    const waitPort = await freePort();
    const waiting = track(
      await startRole(
        "serve-wait",
        ["serve"],
        engineEnv(primary.url, databaseUrl, waitPort, { REDIS_CONFIRM_WAIT_REPLICAS: "1" }),
      ),
    );
    const costEvent = await client.createEvent(1_000, { maxPerUser: 1 });
    const costOf = async (base: string, tag: string) => {
      const via = new Client(base);
      const held = await inParallel(200, 10, (i) => via.book(costEvent, `cost-${tag}-${i}`, 1));
      return timed(held.length, async (i) => {
        expect((await via.pay(costEvent, held[i]!.body)).status).toBe(200);
      });
    };
    const without = await costOf(client.base, "off");
    const withWait = await costOf(`http://127.0.0.1:${waitPort}`, "on");
    console.log(
      `confirm webhook, 200 sequential payments: without WAIT p50 ${percentile(without, 0.5).toFixed(2)} ms p99 ${percentile(without, 0.99).toFixed(2)} ms; ` +
        `with WAIT 1 100: p50 ${percentile(withWait, 0.5).toFixed(2)} ms p99 ${percentile(withWait, 0.99).toFixed(2)} ms`,
    );
    waiting.kill("SIGTERM");

    // The on-sale: people hold and pay as fast as they can.
    const eventId = await client.createEvent(5_000, { maxPerUser: 1 });
    const holds: string[] = [];
    const payments: string[] = [];
    let stop = false;
    const load = inParallel(8, 8, async (lane) => {
      for (let i = 0; !stop; i++) {
        const { hold, paid } = await bookAndPay(client, eventId, `failover-${lane}-${i}`);
        if (stop) return; // answered after the primary died: not counted either way
        if (hold !== null) holds.push(hold);
        if (paid !== null) payments.push(paid);
      }
    });
    await sleep(1_500);
    // The replica is cut off and falls behind, then the primary dies.
    await allowReplication(primary.url, false);
    await sleep(700);
    stop = true;
    primary.proc.kill("SIGKILL");
    const killedAtMs = Date.now();
    await load;

    const promoted = new Redis(replica.url);
    const watcher = new Redis(sentinel.port, "127.0.0.1");
    cleanups.push(
      () => promoted.disconnect(),
      () => watcher.disconnect(),
    );
    for (;;) {
      const [, masterPort] =
        ((await watcher.call("SENTINEL", "get-master-addr-by-name", MASTER_NAME)) as string[]) ?? [];
      const role = ((await promoted.call("ROLE")) as string[])[0];
      if (Number(masterPort) === replica.port && role === "master") break;
      if (Date.now() - killedAtMs > 30_000)
        throw new Error(`Sentinel did not promote the replica:\n${sentinel.proc.tail()}`);
      await sleep(100);
    }
    const promotedInMs = Date.now() - killedAtMs;
    serve.kill("SIGKILL");
    work.kill("SIGKILL");

    const exists = await Promise.all(holds.map((id) => promoted.exists(bookingKey(eventId, id))));
    const states = await Promise.all(payments.map((id) => promoted.hget(bookingKey(eventId, id), "state")));
    const holdsLost = exists.filter((e) => e === 0).length;
    const paymentsLost = states.filter((state) => state !== "paid").length;
    console.log(
      `failover: promoted in ${promotedInMs} ms; the replica lacked ${holdsLost} of ${holds.length} acknowledged holds ` +
        `and ${paymentsLost} of ${payments.length} acknowledged payments (it was cut off for the primary's last 700 ms)`,
    );
    expect(paymentsLost).toBeGreaterThan(0);

    // Recovery on the promoted replica, before it sells again.
    const env = { ...process.env, REDIS_URL: replica.url, DATABASE_URL: databaseUrl, LOG_LEVEL: "silent" };
    const onsale = async (...args: string[]) => {
      try {
        return (await run("npx", ["tsx", "bin/onsale.ts", ...args], { env, timeout: 60_000 })).stdout;
      } catch (error) {
        return (error as { stdout: string }).stdout;
      }
    };
    const report = await onsale("reconcile", eventId);
    // At least those: payments applied as the primary died were not acknowledged, but are in PostgreSQL.
    const reported = report.split("\n").filter((line) => line.includes(": payment_lost:")).length;
    expect(reported).toBeGreaterThanOrEqual(paymentsLost);
    await onsale("cache", "warm", eventId);
    expect(await onsale("reconcile", "--repair", eventId)).toMatch(/1 event\(s\) checked, 0 with drift/);

    // Selling goes on from the promoted replica; the repair pass sends back what could not be restored.
    const after = await freePort();
    const quick = { PAYMENT_REPAIR_AFTER_SECONDS: "1", PAYMENT_REPAIR_INTERVAL_MS: "200" };
    track(await startRole("serve-2", ["serve"], engineEnv(replica.url, databaseUrl, after, quick)));
    track(await startRole("work-2", ["work"], engineEnv(replica.url, databaseUrl, after + 2, quick)));
    const next = new Client(`http://127.0.0.1:${after}`);
    const more = await inParallel(100, 10, (i) => bookAndPay(next, eventId, `after-failover-${i}`));
    expect(more.filter((r) => r.paid !== null)).toHaveLength(100);

    const pool = createPool(databaseUrl, 2);
    cleanups.push(() => pool.end());
    const open = async () =>
      (
        await pool.query("SELECT count(*)::int AS n FROM payments WHERE event_id = $1 AND status = 'received'", [
          eventId,
        ])
      ).rows[0].n;
    for (const deadline = Date.now() + 30_000; (await open()) > 0; await sleep(200)) {
      if (Date.now() > deadline) throw new Error("payments left unapplied");
    }
    // Every acknowledged payment bought its tickets on the promoted replica, or is owed back.
    const { rows } = await pool.query<{ booking_id: string; status: string }>(
      "SELECT booking_id, status FROM payments WHERE event_id = $1 AND booking_id = ANY($2::uuid[])",
      [eventId, payments],
    );
    const paidNow = await Promise.all(rows.map((row) => promoted.hget(bookingKey(eventId, row.booking_id), "state")));
    const sentBack = rows.filter((row) => ["refund_due", "refunded", "refund_failed"].includes(row.status)).length;
    rows.forEach((row, i) => {
      if (["applied", "late_applied"].includes(row.status)) expect(paidNow[i], row.booking_id).toBe("paid");
      else expect(["refund_due", "refunded", "refund_failed"], row.booking_id).toContain(row.status);
    });
    console.log(
      `failover: reconcile reported ${reported} payments lost; of the ${paymentsLost} acknowledged ones, ${paymentsLost - sentBack} restored as paid from PostgreSQL, ${sentBack} sent back (nobody known, or no stock)`,
    );

    const invariants = await verifyScenario(replica.url, databaseUrl, eventId);
    expect(invariants).toMatchObject({ ok: true, oversold: 0, fcfsViolations: 0, missingRows: 0, duplicateRows: 0 });
  });
});
