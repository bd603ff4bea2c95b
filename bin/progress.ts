import cliProgress from "cli-progress";

// The progress bar of every long CLI job (cache warm, reconcile, generate, search reindex,
// the search benchmark's catalogue): on stderr, so stdout stays the command's result, and
// also when stderr is not a terminal, so a job run from a script still shows it is moving.

export interface ProgressBar {
  /** Starts the bar on its first call; the total may grow while the job finds out more. */
  progress(done: number, total: number): void;
  stop(): void;
}

export function progressBar(label: string): ProgressBar {
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} events | {duration}s`,
      stream: process.stderr,
      noTTYOutput: true,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    progress(done, total) {
      if (!started) bar.start(total, 0);
      started = true;
      bar.setTotal(total);
      bar.update(done);
    },
    stop: () => bar.stop(),
  };
}
