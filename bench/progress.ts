import cliProgress from "cli-progress";

// What the benchmark prints while it runs, on stderr (stdout is the result): a line when a
// phase starts, saying what it measures, a line for each step within it (starting processes,
// each load), a bar while a load runs (also when stderr is not a terminal, then a line every
// few seconds), and a line with what it found when it ends. Between bars, a phase that has
// printed nothing for QUIET_MS says what it is still doing, so no phase looks hung.

/** Longest a running phase stays silent. */
const QUIET_MS = 3000;
const HEARTBEAT_CHECK_MS = 500;

export interface PhaseInfo {
  name: string;
  /** One sentence: what the phase measures. */
  what: string;
}

export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private label = "";
  private startedMs = 0;
  private doing = "";
  private doingSinceMs = 0;
  private lastWriteMs = 0;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly out: NodeJS.WritableStream = process.stderr) {}

  begin(index: number, count: number, phase: PhaseInfo): void {
    this.label = `[${index + 1}/${count}] ${phase.name}`;
    this.startedMs = Date.now();
    this.doing = phase.name;
    this.doingSinceMs = this.startedMs;
    this.write(`${this.label}: ${phase.what}\n`);
    clearInterval(this.heartbeat ?? undefined);
    // unref: a phase that throws never reaches end(), and must not keep the process alive.
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_CHECK_MS).unref();
  }

  /** What the running phase does now (start processes, run one load): a line of its own. */
  step(what: string): void {
    this.stopBar();
    this.doing = what;
    this.doingSinceMs = Date.now();
    this.write(`  ${what}\n`);
  }

  /** A bar up to `total` (people, tickets, seconds or percent) for the running phase. */
  track(total: number, unit: string): void {
    this.stopBar();
    this.bar = new cliProgress.SingleBar(
      {
        format: `  [{bar}] {value}/{total} ${unit} {detail}`,
        stream: this.out,
        noTTYOutput: true,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, 0, { detail: "" });
  }

  update(value: number, detail = ""): void {
    this.bar?.update(value, { detail });
  }

  end(found: string): void {
    clearInterval(this.heartbeat ?? undefined);
    this.heartbeat = null;
    this.stopBar();
    this.write(`${this.label} done in ${seconds(Date.now() - this.startedMs)} s: ${found}\n`);
  }

  private stopBar(): void {
    if (!this.bar) return;
    this.bar.stop();
    this.bar = null;
    this.lastWriteMs = Date.now();
  }

  /** A bar prints itself; otherwise a silent phase says what it is still doing. */
  private beat(): void {
    if (this.bar || Date.now() - this.lastWriteMs < QUIET_MS) return;
    this.write(`  … ${this.doing}, ${seconds(Date.now() - this.doingSinceMs)} s so far\n`);
  }

  private write(line: string): void {
    this.out.write(line);
    this.lastWriteMs = Date.now();
  }
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);
