import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// Child processes that tests and benchmarks start (engine roles, redis-server, the bench's
// own servers): each awaited until a log line says it is ready, its log kept so a test can
// wait for a line, measured for memory, and stopped by its own pid.

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
/** Log lines kept per process; older ones are dropped (a bench child logs for minutes). */
const LINES_MAX = 20_000;
const WAIT_POLL_MS = 50;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A started child process whose log lines are kept, counted from its first line. */
export class Proc {
  private kept: string[] = [];
  /** How many of the first lines were dropped to keep LINES_MAX. */
  private dropped = 0;
  private partial = "";
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      const parts = (this.partial + chunk.toString("utf8")).split("\n");
      this.partial = parts.pop()!;
      this.kept.push(...parts.filter(Boolean));
      if (this.kept.length > LINES_MAX) {
        const excess = this.kept.length - LINES_MAX / 2;
        this.kept = this.kept.slice(excess);
        this.dropped += excess;
      }
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.once("exit", (code) => resolve(code));
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The lines kept: all of them, unless more than LINES_MAX were logged. */
  get lines(): readonly string[] {
    return this.kept;
  }

  /** The last lines, for an error message. */
  tail(count = 20): string {
    return [...this.kept.slice(-count), this.partial].filter(Boolean).join("\n");
  }

  /** Waits for a log line matching `pattern`, counting from line `from`; returns its index. */
  async waitForLine(pattern: RegExp, timeoutMs = 30_000, from = 0): Promise<number> {
    const deadlineMs = Date.now() + timeoutMs;
    for (;;) {
      const start = Math.max(0, from - this.dropped);
      const index = this.kept.findIndex((line, i) => i >= start && pattern.test(line));
      if (index !== -1) return this.dropped + index;
      if (this.child.exitCode !== null)
        throw new Error(`${this.name} exited (${this.child.exitCode}):\n${this.tail()}`);
      if (Date.now() > deadlineMs)
        throw new Error(`${this.name}: no line matching ${pattern} after ${timeoutMs} ms:\n${this.tail()}`);
      await sleep(WAIT_POLL_MS);
    }
  }

  /** Peak resident memory so far, in bytes (VmHWM); 0 once the process is gone. */
  peakRssBytes(): number {
    try {
      const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, "utf8"));
      return match ? Number(match[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.child.exitCode === null) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited after STOP_TIMEOUT_MS. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface StartOptions {
  name: string;
  /** An executable; `script` instead runs a TypeScript file of the repository under node with tsx. */
  command?: string;
  script?: string;
  args?: string[];
  env?: Record<string, string>;
  /** A log line that says the process is ready. */
  readyWhen: RegExp;
  readyTimeoutMs?: number;
  /** Extra node flags for a script, e.g. --cpu-prof. */
  nodeArgs?: string[];
}

/** Starts a process and waits until it logs `readyWhen`; killed if it does not in time. */
export async function startProc(options: StartOptions): Promise<Proc> {
  if ((options.command === undefined) === (options.script === undefined))
    throw new Error(`${options.name}: give a command or a script`);
  const [file, args] =
    options.script !== undefined
      ? [process.execPath, [...(options.nodeArgs ?? []), "--import", "tsx", options.script, ...(options.args ?? [])]]
      : [options.command!, options.args ?? []];
  const child = spawn(file, args, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const proc = new Proc(options.name, child);
  try {
    await proc.waitForLine(options.readyWhen, options.readyTimeoutMs ?? READY_TIMEOUT_MS);
  } catch (error) {
    proc.kill();
    throw error;
  }
  return proc;
}

/** Starts `bin/onsale.ts <args>` (an engine role) and waits until it serves or works. */
export function startRole(
  name: string,
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<Proc> {
  return startProc({
    name,
    script: "bin/onsale.ts",
    args,
    env,
    readyWhen: /engine started|HTTP processes serving/,
    nodeArgs,
  });
}

export async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(procs.map((proc) => proc.stop()));
}
