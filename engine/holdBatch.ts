import type { HoldInput } from "./commands.js";
import type { HoldBatch } from "./config.js";
import type { ScriptReply } from "./scripts.js";

// Group commit for holds (HOLD_BATCH=on). One Redis core bounds a hot event, and most of a
// hold's cost there is per call (script entry, reading the event, reclaim and line checks),
// so concurrent holds for the same event are sent as one lua/hold_batch.lua call, in the
// order they reached this process. A batch is what arrived for the event during one turn of
// the event loop (or HOLD_BATCH_WAIT_US); batches are not held back while an earlier one is
// in flight, so Redis and this process keep working at the same time, and one connection
// keeps them in order.

interface Pending {
  request: HoldInput;
  resolve: (reply: ScriptReply) => void;
  reject: (error: unknown) => void;
}

/** Sends one batch; answers one reply per request, in order. */
export type SendBatch = (eventId: string, requests: HoldInput[]) => Promise<ScriptReply[]>;

export class HoldBatcher {
  private readonly queues = new Map<string, Pending[]>();
  /** Events with a flush scheduled. */
  private readonly scheduled = new Set<string>();

  constructor(
    private readonly send: SendBatch,
    private readonly options: HoldBatch,
  ) {}

  hold(eventId: string, request: HoldInput): Promise<ScriptReply> {
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(eventId);
      if (queue === undefined) {
        queue = [];
        this.queues.set(eventId, queue);
      }
      queue.push({ request, resolve, reject });
      if (!this.scheduled.has(eventId)) {
        this.scheduled.add(eventId);
        const flush = () => this.flush(eventId);
        if (this.options.waitUs === 0) setImmediate(flush);
        else setTimeout(flush, this.options.waitUs / 1000);
      }
    });
  }

  private flush(eventId: string): void {
    this.scheduled.delete(eventId);
    const queue = this.queues.get(eventId)!;
    this.queues.delete(eventId);
    for (let start = 0; start < queue.length; start += this.options.max)
      void this.sendBatch(eventId, queue.slice(start, start + this.options.max));
  }

  private async sendBatch(eventId: string, batch: Pending[]): Promise<void> {
    try {
      const replies = await this.send(
        eventId,
        batch.map((pending) => pending.request),
      );
      for (const [i, pending] of batch.entries()) pending.resolve(replies[i]);
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
  }
}
