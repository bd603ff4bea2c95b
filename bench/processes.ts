import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// Child processes the bench starts (engine roles, its own servers), each awaited until it
// says it is ready, measured for memory, and stopped by its own pid.

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

export interface Child {
  name: string;
  process: ChildProcess;
  /** Peak resident memory so far, in bytes (VmHWM); 0 once the process is gone. */
  peakRssBytes(): number;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  script: string;
  args: string[];
  env: Record<string, string>;
  /** A line on stdout or stderr that says the process is ready. */
  readyWhen: RegExp;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
}

export function spawnChild(options: SpawnOptions): Promise<Child> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), "--import", "tsx", options.script, ...options.args], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${options.name} not ready after ${READY_TIMEOUT_MS} ms:\n${output.slice(-2000)}`)), READY_TIMEOUT_MS);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(error);
    };
    let ready = false;
    const onData = (chunk: Buffer) => {
      // Keep only the tail: the children's logs are for diagnosing a failed start.
      output = (output + chunk.toString()).slice(-8000);
      if (!ready && options.readyWhen.test(output)) {
        ready = true;
        clearTimeout(timer);
        resolve(wrap(options.name, child));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      if (!ready) fail(new Error(`${options.name} exited with ${code} before it was ready:\n${output.slice(-2000)}`));
    });
  });
}

function wrap(name: string, child: ChildProcess): Child {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  return {
    name,
    process: child,
    peakRssBytes() {
      try {
        const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        return match ? Number(match[1]) * 1024 : 0;
      } catch {
        return 0;
      }
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function stopAll(children: Child[]): Promise<void> {
  await Promise.all(children.map((child) => child.stop()));
}
