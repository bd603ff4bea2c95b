import { execFileSync, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MUTANTS, type Mutant } from "./mutants.js";

// npm run test:lua-mutants: copies the repository to a temporary directory, checks that each
// killing test passes there unmutated, then applies each mutant alone and runs only its test
// (vitest -t). Exits 1 when a mutant survives, no longer applies, or a test fails unmutated.
// Uses TEST_DATABASE_URL and REDIS_URL as the test suite does. With `--results <file>` it also
// writes its counts as vitest's JSON results do (a killed mutant passed, any other failed), for
// the closing line of .ci/run.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** A mutant's test run may take this long at most (a surviving property test runs in full). */
const RUN_TIMEOUT_MS = 120_000;

interface Outcome {
  passed: number;
  failed: number;
  /** Full names of the tests that passed. */
  passedNames: string[];
  exitCode: number | null;
}

/** The repository as it stands on disk (tracked and new files, not ignored ones), node_modules linked. */
function copyRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), "onsale-mutants-"));
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
    encoding: "utf8",
  })
    .split("\0")
    .filter((file) => file !== "" && file !== "node_modules" && existsSync(join(ROOT, file)));
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(ROOT, file), join(dir, file));
  }
  // Each package linked on its own, so vitest's cache is written in the copy, not the shared modules.
  const modules = realpathSync(join(ROOT, "node_modules"));
  mkdirSync(join(dir, "node_modules"));
  for (const entry of readdirSync(modules)) {
    if (entry !== ".vite" && entry !== ".vitest" && entry !== ".cache")
      symlinkSync(join(modules, entry), join(dir, "node_modules", entry));
  }
  return dir;
}

function runTests(dir: string, files: string[], pattern: string): Outcome {
  // vitest.config.ts has vitest write its JSON results here.
  const results = join(dir, ".test-results.json");
  rmSync(results, { force: true });
  const run = spawnSync(
    process.execPath,
    [join(dir, "node_modules", "vitest", "vitest.mjs"), "run", ...files, "-t", pattern],
    {
      cwd: dir,
      env: { ...process.env, MUTANT_RUN: "1" },
      encoding: "utf8",
      timeout: RUN_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (!existsSync(results)) {
    console.log(`vitest wrote no results (exit ${run.status}):\n${(run.stdout + run.stderr).slice(-3000)}`);
    return { passed: 0, failed: 1, passedNames: [], exitCode: run.status };
  }
  const report = JSON.parse(readFileSync(results, "utf8")) as {
    numPassedTests: number;
    numFailedTests: number;
    testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[];
  };
  const passedNames = report.testResults.flatMap((file) =>
    file.assertionResults.filter((t) => t.status === "passed").map((t) => `${file.name} ${t.fullName}`),
  );
  return { passed: report.numPassedTests, failed: report.numFailedTests, passedNames, exitCode: run.status };
}

/** Every killing test passes on the unmutated copy; otherwise a failure would prove nothing. */
function baseline(dir: string): string[] {
  const files = [...new Set(MUTANTS.map((m) => m.killedBy.file))];
  const pattern = [...new Set(MUTANTS.map((m) => m.killedBy.test))].map((test) => `(${test})`).join("|");
  const outcome = runTests(dir, files, pattern);
  const problems: string[] = [];
  if (outcome.failed > 0 || outcome.exitCode !== 0)
    problems.push(`unmutated: ${outcome.failed} failed (exit ${outcome.exitCode})`);
  for (const { name, killedBy } of MUTANTS) {
    const ran = outcome.passedNames.some(
      (full) => full.includes(killedBy.file) && new RegExp(killedBy.test).test(full),
    );
    if (!ran) problems.push(`${name}: no passing test in ${killedBy.file} matches "${killedBy.test}"`);
  }
  return problems;
}

function tryMutant(dir: string, mutant: Mutant): "killed" | "survived" | "not applied" {
  const path = join(dir, mutant.file);
  const source = readFileSync(path, "utf8");
  if (source.split(mutant.from).length !== 2) return "not applied";
  writeFileSync(
    path,
    source.replace(mutant.from, () => mutant.to),
  );
  try {
    const outcome = runTests(dir, [mutant.killedBy.file], mutant.killedBy.test);
    return outcome.failed > 0 || outcome.exitCode !== 0 ? "killed" : "survived";
  } finally {
    writeFileSync(path, source);
  }
}

function writeResults(killed: number, failed: number): void {
  const at = process.argv.indexOf("--results");
  if (at === -1) return;
  const counts = {
    numPassedTests: killed,
    numFailedTests: failed,
    numPendingTests: 0,
    numTodoTests: 0,
    success: failed === 0,
    testResults: [],
  };
  writeFileSync(process.argv[at + 1]!, JSON.stringify(counts));
}

function main(): number {
  const dir = copyRepository();
  try {
    const startedMs = Date.now();
    const problems = baseline(dir);
    if (problems.length > 0) {
      for (const problem of problems) console.log(`baseline: ${problem}`);
      console.log("mutants not run: the killing tests must pass unmutated first");
      writeResults(0, problems.length);
      return 1;
    }
    let bad = 0;
    for (const mutant of MUTANTS) {
      const mutantStartMs = Date.now();
      const result = tryMutant(dir, mutant);
      if (result !== "killed") bad += 1;
      const seconds = ((Date.now() - mutantStartMs) / 1000).toFixed(1);
      console.log(
        `${result === "killed" ? "killed  " : result.toUpperCase()}  ${mutant.name} (${mutant.file}) by ${mutant.killedBy.file} "${mutant.killedBy.test}" ${seconds} s`,
      );
    }
    const seconds = ((Date.now() - startedMs) / 1000).toFixed(0);
    console.log(
      `${MUTANTS.length} mutants: ${MUTANTS.length - bad} killed, ${bad} survived or not applied (${seconds} s)`,
    );
    writeResults(MUTANTS.length - bad, bad);
    return bad === 0 ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = main();
