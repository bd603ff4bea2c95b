import type { Logger } from "../engine/logger.js";

/** Runs work again and again: at once while it reports more to do, else after intervalMs. */
export class Periodic {
  private stopped = true;
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<void> = Promise.resolve();

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly work: () => Promise<boolean>,
    private readonly log: Logger,
  ) {}

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
    let more = false;
    try {
      more = await this.work();
    } catch (error) {
      this.log.error({ err: error, job: this.name }, "periodic job failed; will retry");
    }
    if (!this.stopped) this.schedule(more ? 0 : this.intervalMs);
  }
}
