import type { Logger } from "../engine/logger.js";

/** What one pass found: more waiting, some work done, or nothing to do. */
export type PassOutcome = "more" | "done" | "idle";

/** A pass that went through `count` items of at most `max`. */
export function outcomeOf(count: number, max: number): PassOutcome {
  return count >= max ? "more" : count > 0 ? "done" : "idle";
}

/**
 * Runs work again and again: at once while it reports more to do, after intervalMs when it
 * did some, and after twice its last wait (up to idleIntervalMs) while it finds nothing, so
 * a quiet process polls rarely and a busy one promptly.
 */
export class Periodic {
  private stopped = true;
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<void> = Promise.resolve();
  private readonly idleIntervalMs: number;
  private delayMs: number;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly work: () => Promise<PassOutcome>,
    private readonly log: Logger,
    idleIntervalMs = intervalMs,
  ) {
    this.idleIntervalMs = Math.max(intervalMs, idleIntervalMs);
    this.delayMs = intervalMs;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Resolves once the pass under way, if any, has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.current;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.current = this.tick();
    }, delayMs);
  }

  private async tick(): Promise<void> {
    let outcome: PassOutcome = "done";
    try {
      outcome = await this.work();
    } catch (error) {
      this.log.error({ err: error, job: this.name }, "periodic job failed; will retry");
    }
    if (outcome === "idle") this.delayMs = Math.min(this.idleIntervalMs, this.delayMs * 2);
    else this.delayMs = this.intervalMs;
    if (!this.stopped) this.schedule(outcome === "more" ? 0 : this.delayMs);
  }
}
