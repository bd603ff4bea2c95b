// What load threads send their parent, and what every load thread asks for. A thread reports
// the CPU it spent itself (cpuUs), so the load generator's cost is measured like any process's.

export type LoadMessage =
  | { type: "tick"; responses: number }
  | {
      type: "done";
      counts: number[];
      statuses: Record<string, number>;
      errors: number;
      timeouts: number;
      durationMs: number;
      cpuUs: number;
    };

export const TICK_MS = 250;

/** 1..4 tickets, spread evenly and the same on every run. */
export function quantityOf(n: number): number {
  return 1 + ((Math.imul(n, 2654435761) >>> 0) % 4);
}
