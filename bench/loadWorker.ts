import autocannon from "autocannon";
import { parentPort, workerData } from "node:worker_threads";
import { runPaced } from "./pacedLoad.js";
import { cannonBase, reportRun } from "./threadReport.js";
import { quantityOf } from "./protocol.js";

// One load-generator thread: autocannon (or, held at a rate, bench/pacedLoad.ts) sends POST
// /bookings, each request a different person (userId = prefix-n) asking for 1..4 tickets. autocannon saturates one core, so
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
  /** Requests per second across this worker's connections, paced open-loop (bench/pacedLoad.ts); 0 means as fast as possible. */
  rate: number;
}

/** The n-th person's request: a new userId each, 1..4 tickets. */
function bookingBody(job: LoadJob, n: number): string {
  return `{"userId":"${job.userPrefix}-${n}","eventId":"${job.eventId}","quantity":${quantityOf(n)}}`;
}

async function main(job: LoadJob): Promise<void> {
  if (job.rate > 0) {
    const { connections, durationS, rate, url } = job;
    return runPaced({ url, connections, durationS, rate, body: (n) => bookingBody(job, n) }, parentPort!);
  }
  let n = 0;
  const instance = autocannon({
    ...cannonBase(job.url, job.connections),
    ...(job.amount > 0 ? { amount: job.amount } : { duration: job.durationS }),
    requests: [
      {
        method: "POST",
        path: "/bookings",
        headers: { "content-type": "application/json" },
        setupRequest(request) {
          n += 1;
          request.body = bookingBody(job, n);
          return request;
        },
      },
    ],
  });
  await reportRun(instance, parentPort!);
}

if (parentPort !== null && workerData !== undefined) await main(workerData as LoadJob);
