import autocannon from "autocannon";
import { parentPort, workerData } from "node:worker_threads";
import { cannonBase, reportRun } from "./threadReport.js";
import { quantityOf } from "./protocol.js";

// One load-generator thread: autocannon sends POST /bookings, each request a different
// person (userId = prefix-n) asking for 1..4 tickets. autocannon saturates one core, so
// the parent runs several of these. Never pipelined: this uWS build closes a connection
// when a request arrives while an async answer is pending.

export interface LoadJob {
  url: string;
  eventId: string;
  userPrefix: string;
  connections: number;
  /** Requests to send in all; 0 means run for durationS. */
  amount: number;
  durationS: number;
  /** Requests per second across this worker's connections; 0 means as fast as possible. */
  rate: number;
}

async function main(job: LoadJob): Promise<void> {
  let n = 0;
  const instance = autocannon({
    ...cannonBase(job.url, job.connections),
    ...(job.amount > 0 ? { amount: job.amount } : { duration: job.durationS }),
    ...(job.rate > 0 ? { overallRate: job.rate } : {}),
    requests: [
      {
        method: "POST",
        path: "/bookings",
        headers: { "content-type": "application/json" },
        setupRequest(request) {
          n += 1;
          request.body = `{"userId":"${job.userPrefix}-${n}","eventId":"${job.eventId}","quantity":${quantityOf(n)}}`;
          return request;
        },
      },
    ],
  });
  await reportRun(instance, parentPort!);
}

if (parentPort !== null && workerData !== undefined) await main(workerData as LoadJob);
