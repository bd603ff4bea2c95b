import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

// `npm run bench` as a person types it: --help prints the options and exits 0; a mistake is
// refused with one line naming it and exit code 2, before the bench starts anything.

const bench = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "bench/cli.ts", ...args], { encoding: "utf8", timeout: 30_000 });

describe("bench command line", () => {
  it("prints its options on --help and exits 0", () => {
    const run = bench("--help");
    expect(run.status).toBe(0);
    for (const option of ["--people N", "--tickets N", "--seconds N", "--hold-batch on|off", "--redis-url U", "--help"])
      expect(run.stdout).toContain(option);
  });

  it.each([
    [["--bogus"], "bench: Unknown option '--bogus'"],
    [["--people", "lots"], 'bench: --people must be a whole number from 1 to 10000000, got "lots"'],
  ])("refuses %j with exit code 2", (args, message) => {
    const run = bench(...args);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain("npm run bench -- --help lists the options");
  });
});
