import { costTable, headline, serverCpuUs, targetLines, verdict, verdictLines } from "./costs.js";
import { UsageError } from "../bin/commandLine.js";
import { HELP, parseOptions } from "./options.js";
import { mixLine } from "./rivals.js";
import { writeResults } from "./report.js";
import { runBench } from "./run.js";
import type { BenchOptions } from "./setup.js";

// npm run bench -- [options]; --help lists them. Exits 2 on a command line it cannot run, 1 when
// an invariant broke. Prints, first, one sentence saying what the run showed and the verdict.

function rivalLines(result: Awaited<ReturnType<typeof runBench>>): string[] {
  if (!result.rivals) return [];
  const { people, tickets, lineMax, levels } = result.rivals;
  return [
    `rivals: ${people} people, ${tickets} tickets, line of ${lineMax}`,
    ...Object.entries(levels).flatMap(([level, l]) => [
      ...Object.entries(l.runs).map(
        ([design, r]) =>
          `  ${level.padEnd(9)} ${design.padEnd(14)} ${String(r.rps).padStart(7)} req/s  system ${serverCpuUs(r)} µs/request  ${mixLine(l.mix[design as keyof typeof l.mix])}`,
      ),
      `  ${level}: ${l.engine} ${l.engineToStrongest.rps}× the strongest rival (${l.strongest}) in req/s, ${l.engineToStrongest.cpuPerRequest}× its CPU per request`,
    ]),
  ];
}

let options: BenchOptions | "help";
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`bench: ${error.message}\n(npm run bench -- --help lists the options)\n`);
  process.exit(2);
}
if (options === "help") {
  process.stdout.write(HELP);
  process.exit(0);
}

const command = `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim();
const result = await runBench(options);
const files = writeResults(result, options.outDir, command);
const line = (name: string, r: { rps: number; p50Ms: number; p99Ms: number; p999Ms: number; errors: number }) =>
  `${name.padEnd(20)} ${String(r.rps).padStart(8)} req/s  p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  p99.9 ${r.p999Ms} ms  errors ${r.errors}`;
const outcome = verdict(result);
process.stdout.write(
  [
    "",
    headline(outcome),
    ...verdictLines(outcome).map((l) => `  ${l}`),
    "",
    ...costTable(result.runs),
    "",
    `engine idle, CPU µs per second: ${Object.entries(result.idleCpuUsPerSecond)
      .map(([name, us]) => `${name} ${us}`)
      .join(", ")}`,
    "cost targets (ratios in this run):",
    ...targetLines(result.costTargets),
    "",
    ...Object.entries(result.runs).map(([name, r]) => line(name, r)),
    `ratios: engine/http ${result.ratios.engineToHttpCeiling}  engine/redis ${result.ratios.engineToRedisCeiling}`,
    `group commit: redis batched/single ${result.ratios.redisBatchedToSingle}  engine batched/single ${result.ratios.engineBatchedToSingle}`,
    `on-sale: ${result.people} people in ${result.onSale.arrivalMs} ms, settled in ${result.onSale.settleMs} ms, relayed in ${result.onSale.relayMs} ms`,
    `redis memory per waiting person: ${result.memory.waiting.bytesPerWaiting} bytes`,
    `invariants: ${result.invariants.ok ? "ok" : `BROKEN: ${result.invariants.problems.join("; ")}`}`,
    ...rivalLines(result),
    `results: ${files.json}, ${files.html}`,
    "",
  ].join("\n"),
);
process.exit(result.invariants.ok ? 0 : 1);
