import cliProgress from "cli-progress";

// What the benchmark prints while it runs, on stderr (stdout is the result): a line when a
// phase starts, saying what it measures, a bar while it runs (also when stderr is not a
// terminal, then a line every few seconds), and a line with what it found when it ends.

export interface PhaseInfo {
  name: string;
  /** One sentence: what the phase measures. */
  what: string;
}

export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private label = "";
  private startedMs = 0;

  constructor(private readonly out: NodeJS.WritableStream = process.stderr) {}

  begin(index: number, count: number, phase: PhaseInfo): void {
    this.label = `[${index + 1}/${count}] ${phase.name}`;
    this.startedMs = Date.now();
    this.out.write(`${this.label}: ${phase.what}\n`);
  }

  /** A bar up to `total` (people, tickets, seconds or percent) for the running phase. */
  track(total: number, unit: string): void {
    this.bar?.stop();
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
    this.bar?.stop();
    this.bar = null;
    this.out.write(`${this.label} done in ${((Date.now() - this.startedMs) / 1000).toFixed(1)} s: ${found}\n`);
  }
}
