import { freePort } from "../bin/app.js";
import { runLoad } from "./load.js";
import { startRole } from "../testkit/processes.js";
import { BOOKING_ANSWERS, DEFAULTS, createEvent, engineEnv } from "./setup.js";

// Single vs batched holds through the full path, interleaved (off, on, off, on, ...) so a
// machine whose load drifts during the run hurts both sides alike. One `serve` process per
// round, a fresh event each time.
//   REDIS_URL=... DATABASE_URL=... npx tsx bench/holdBatchAB.ts [rounds=2] [seconds=6] [tickets=10000]

const [rounds = 2, seconds = 6, tickets = 10_000] = process.argv.slice(2).map(Number);
const options = { ...DEFAULTS, tickets };
const port = await freePort();
const gatewayPort = await freePort();
for (let round = 0; round < rounds * 2; round++) {
  const holdBatch = round % 2 === 1;
  const serve = await startRole("serve", ["serve"], engineEnv(options, port, gatewayPort, holdBatch));
  try {
    const url = `http://127.0.0.1:${port}`;
    const eventId = await createEvent(url, tickets);
    const result = await runLoad({
      url,
      eventId,
      userPrefix: `ab-${Date.now().toString(36)}`,
      threads: options.threads,
      connections: options.connections,
      amount: 0,
      durationS: seconds,
      okStatuses: BOOKING_ANSWERS,
    });
    process.stdout.write(
      `${holdBatch ? "batched" : "single "}  ${String(result.rps).padStart(6)} req/s  p50 ${result.p50Ms} ms  p99 ${result.p99Ms} ms  errors ${result.errors}\n`,
    );
  } finally {
    await serve.stop();
  }
}
