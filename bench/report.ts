import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { barChart, lineChart } from "./charts.js";
import {
  COST_COLUMNS,
  headline,
  P99_AT_80_LIMIT_MS,
  SERVER_PROCESSES,
  serverCpuUs,
  verdict,
  verdictLines,
} from "./costs.js";
import type { RunResult } from "./load.js";
import { TICK_MS } from "./protocol.js";
import type { BenchResult } from "./run.js";

// A self-contained HTML report (no scripts, no network), readable on a phone: it opens with one
// sentence saying what the run showed, then the verdict, the cost table and the targets, then
// one chart per comparison (bench/charts.ts) and the tables of everything measured.

const ENGINE_BLUE = "#1f77b4";
const OTHER_GREY = "#8c8c8c";
const AT80_ORANGE = "#ff7f0e";
/** Runs of the engine's full path; the rest are ceilings and the PostgreSQL design. */
const ENGINE_RUNS = new Set(["engine", "engineSingle", "engineBatched", "engineRefusals"]);
/** Runs held at 80% of a peak: their rate was chosen, so they are left out of the throughput chart. */
const RATE_CAPPED = new Set(["engineSingleAt80", "engineBatchedAt80"]);

const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 2 });

function figure(caption: string, chart: string, note = ""): string {
  return `<figure><figcaption>${escapeHtml(caption)}</figcaption>${chart}${note ? `<p class="note">${escapeHtml(note)}</p>` : ""}</figure>`;
}

/** One bar per row under a title that is also the figure's caption: the engine's bars blue, the rest grey. */
function engineBarsFigure(
  title: string,
  axis: string,
  seriesName: string,
  rows: [name: string, value: number, engine: boolean][],
  note: string,
): string {
  return figure(
    title,
    barChart({
      title,
      axis,
      groups: rows.map(([name]) => name),
      series: [
        {
          name: seriesName,
          color: ENGINE_BLUE,
          colors: rows.map(([, , engine]) => (engine ? ENGINE_BLUE : OTHER_GREY)),
          values: rows.map(([, value]) => value),
        },
      ],
    }),
    note,
  );
}

/** Where the on-sale's CPU went, process by process. */
function onSaleCostChart(engine: RunResult): string {
  const cost = Object.entries(engine.cpuUsPerRequest ?? {});
  return engineBarsFigure(
    "CPU µs per person in the on-sale, by process",
    "CPU µs per person",
    "µs per person",
    cost.map(([name, us]) => [name, us, SERVER_PROCESSES.includes(name)]),
    `Blue: the engine (${SERVER_PROCESSES.filter((name) => engine.cpuUsPerRequest?.[name] !== undefined).join(", ")}); grey: the bench itself (load generator, mix).`,
  );
}

function throughputChart(runs: Record<string, RunResult>): string {
  const shown = Object.entries(runs).filter(([name]) => !RATE_CAPPED.has(name));
  return engineBarsFigure(
    "Requests per second at peak, by run",
    "requests per second",
    "req/s",
    shown.map(([name, r]) => [name, r.rps, ENGINE_RUNS.has(name)]),
    "Blue: the engine's full path; grey: the uWS ceiling, the Redis ceilings (no HTTP) and the PostgreSQL design. Each ran alone on this machine.",
  );
}

function latencyChart(peak: RunResult, at80: RunResult): string {
  const quantiles = [
    ["p50", "p50Ms"],
    ["p99", "p99Ms"],
    ["p99.9", "p999Ms"],
  ] as const;
  const series = [
    { name: `at peak (${fmt(peak.rps)} req/s)`, color: ENGINE_BLUE, run: peak },
    { name: `at 80% of peak (${fmt(at80.rps)} req/s)`, color: AT80_ORANGE, run: at80 },
  ];
  return figure(
    "Latency of the full path at peak and at 80% of peak (ms)",
    barChart({
      title: "Latency of the full path at peak and at 80% of peak",
      axis: "latency, ms",
      groups: quantiles.map(([label]) => label),
      series: series.map(({ name, color, run }) => ({
        name,
        color,
        values: quantiles.map(([, key]) => run[key]),
        valueLabels: quantiles.map(([, key]) => `${fmt(run[key])} ms`),
      })),
      reference: { value: P99_AT_80_LIMIT_MS, label: `${P99_AT_80_LIMIT_MS} ms p99 limit` },
    }),
  );
}

function timelineChart(engine: RunResult): string {
  // The samples start with the load threads, which take a while to boot on a loaded machine.
  const firstAnswer = Math.max(
    0,
    engine.timeline.findIndex((perS) => perS > 0),
  );
  const answering = engine.timeline.slice(firstAnswer);
  return figure(
    "The on-sale: answers per second over time",
    lineChart({
      title: "The on-sale: answers per second over time",
      xAxis: "seconds since the first answer",
      yAxis: "answers/s",
      points: answering.map((perS, i): [number, number] => [((i + 1) * TICK_MS) / 1000, perS]),
      color: ENGINE_BLUE,
    }),
    `Sampled every ${TICK_MS} ms, from the first ${TICK_MS} ms with an answer.`,
  );
}

/** The on-sale's latency as a cumulative share: read p50 at 50 and p99 at 99. */
function latencyDistributionChart(engine: RunResult): string {
  const total = engine.histogram.reduce((sum, [, count]) => sum + count, 0) || 1;
  let seen = 0;
  const points = engine.histogram.map(([ms, count]): [number, number] => {
    seen += count;
    return [ms, (100 * seen) / total];
  });
  return figure(
    "The on-sale: share of answers within a latency",
    lineChart({
      title: "The on-sale: share of answers within a latency",
      xAxis: "latency, ms (log scale)",
      yAxis: "% of answers",
      points,
      color: ENGINE_BLUE,
      xLog: true,
    }),
  );
}

/** Words wrap and read from the left; numbers (and the dash of a value not measured) stay whole, right-aligned. */
const cell = (c: string | number) =>
  typeof c === "number" ? `<td>${fmt(c)}</td>` : `<td${c.length > 3 ? ' class="text"' : ""}>${escapeHtml(c)}</td>`;
const rowsHtml = (rows: (string | number)[][]) => rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("");

/** A table in a box that scrolls sideways on its own, so a wide table never widens the page. */
function table(head: string[], rows: (string | number)[][]): string {
  return `<div class="scroll"><table><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr>${rowsHtml(rows)}</table></div>`;
}

/** One record as a name and a value per line: narrow enough for a phone. */
function facts(pairs: [string, string | number][]): string {
  return `<div class="scroll"><table>${rowsHtml(pairs)}</table></div>`;
}

/** CPU µs per request by process for every run that measured it, then the targets met or not. */
function costSection(result: BenchResult): string {
  const runs = Object.entries(result.runs as unknown as Record<string, RunResult>).filter(([, r]) => r.cpuUsPerRequest);
  const columns = COST_COLUMNS.filter((name) => runs.some(([, r]) => r.cpuUsPerRequest![name] !== undefined));
  // The total first: on a narrow screen the columns after it scroll.
  const rows = runs.map(([name, r]) => [name, serverCpuUs(r), ...columns.map((c) => r.cpuUsPerRequest![c] ?? "—")]);
  return `<h2>Cost per request, by process</h2>
<p>CPU µs each process spent per request (from <code>/proc/&lt;pid&gt;/stat</code>, Redis <code>INFO cpu</code>, PostgreSQL as the sum of its backends), measured side by side in this run. <i>system</i> is the processes under test, without the load generator and the mix; the on-sale is the <i>engine</i> row, per person who arrived.</p>
${table(["run", "system", ...columns], rows)}
<h2>Cost targets</h2>
${table(
  ["target", "met?", "measured", "limit", "measured ÷ limit"],
  result.costTargets.map((t) => [
    t.target,
    t.met ? "met" : "NOT met",
    t.value,
    t.limit,
    Math.round((t.value / t.limit) * 100) / 100,
  ]),
)}
<p class="note">How each is measured:</p>
<ul class="note">${result.costTargets.map((t) => `<li>${escapeHtml(t.target)}: ${escapeHtml(t.measured)}</li>`).join("")}</ul>
<p class="note">With nothing asked of them, the engine's processes spent (CPU µs per second) ${escapeHtml(
    Object.entries(result.idleCpuUsPerSecond)
      .map(([name, us]) => `${name} ${fmt(us)}`)
      .join(", "),
  )}.</p>`;
}

/** With --rivals: each durability level's runs side by side, with their mix of answers. */
function rivalsSection(result: BenchResult): string {
  if (!result.rivals) return "";
  const { people, tickets, lineMax, levels } = result.rivals;
  const rows = Object.entries(levels).flatMap(([level, l]) =>
    Object.entries(l.runs).map(([design, r]) => {
      const mix = l.mix[design as keyof typeof l.mix];
      return [
        level,
        design,
        r.rps,
        r.p99Ms,
        serverCpuUs(r),
        `${fmt(mix.held)} / ${fmt(mix.waiting)} / ${fmt(mix.refused)}`,
      ];
    }),
  );
  const lines = Object.entries(levels).map(
    ([level, l]) =>
      `<li>${escapeHtml(level)}: ${escapeHtml(l.engine)} ${fmt(l.engineToStrongest.rps)}× the strongest rival (${escapeHtml(l.strongest)}) in req/s, ${fmt(l.engineToStrongest.cpuPerRequest)}× its CPU per request</li>`,
  );
  return `<h2>The engine beside the PostgreSQL rivals</h2>
<p>${fmt(people)} people, ${fmt(tickets)} tickets, a line of ${fmt(lineMax)}; Redis AOF everysec vs synchronous_commit=off, always vs on.</p>
<ul>${lines.join("")}</ul>
${table(["durability", "design", "req/s", "p99 ms", "system CPU µs/request", "held / waiting / refused"], rows)}`;
}

const STYLE = `body{font-family:sans-serif;max-width:50rem;margin:0 auto;padding:0.75rem;color:#222;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
.headline{font-size:1.15rem;font-weight:bold}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:0.5rem 0}
table{font-size:0.9rem}td,th{border:1px solid #ccc;padding:3px 5px;text-align:right;white-space:nowrap}
th{background:#f4f4f4}th:first-child{text-align:left}
td.text{text-align:left;white-space:normal}td.text:first-child{min-width:9rem}
figure{margin:1.5rem 0;max-width:36rem}
figure svg{display:block;width:100%;height:auto}
figcaption{font-weight:bold;margin-bottom:0.3rem}
.note{color:#555;font-size:0.9rem}
.ok{color:#2a7a2a}.bad{color:#c62828}
code{background:#f4f4f4;padding:1px 3px;overflow-wrap:anywhere}`;

export function renderReport(result: BenchResult, command: string): string {
  const runs = result.runs as unknown as Record<string, RunResult>;
  const inv = result.invariants;
  const v = verdict(result);
  const { onSale } = result;
  const mem = result.memory;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>On-sale benchmark ${escapeHtml(result.startedAt)}</title>
<style>${STYLE}</style></head><body>
<h1>On-sale benchmark</h1>
<p class="headline" id="headline">${escapeHtml(headline(v))}</p>
<ul class="verdict">${verdictLines(v)
    .map((line) => `<li>${escapeHtml(line)}</li>`)
    .join("")}</ul>
<p class="note"><code>${escapeHtml(command)}</code><br>${escapeHtml(result.startedAt)} · ${result.machine.cpus} cores (shared; load average ${result.machine.loadAverage.map((l) => l.toFixed(2)).join(" ")}) · ${fmt(result.people)} people · ${fmt(result.tickets)} tickets · ${result.workers} HTTP worker process(es) · ${fmt(result.durationMs / 1000)} s in all</p>
${costSection(result)}
${onSaleCostChart(runs.engine!)}
<h2>Invariants: <span class="${inv.ok ? "ok" : "bad"}">${inv.ok ? "all held" : "BROKEN"}</span></h2>
${facts([
  ["oversold", inv.oversold],
  ["FCFS violations", inv.fcfsViolations],
  ["paid rows missing", inv.missingRows],
  ["paid rows too many", inv.duplicateRows],
])}
${inv.problems.length ? `<ul>${inv.problems.map((p) => `<li class="bad">${escapeHtml(p)}</li>`).join("")}</ul>` : ""}
<h2>Latency and throughput</h2>
${latencyChart(runs.engineSingle!, runs.engineSingleAt80!)}
${throughputChart(runs)}
${timelineChart(runs.engine!)}
${latencyDistributionChart(runs.engine!)}
${rivalsSection(result)}
<h2>Every run side by side</h2>
${table(
  ["run", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "requests", "duration ms"],
  Object.entries(runs).map(([name, r]) => [
    name,
    r.rps,
    r.p50Ms,
    r.p99Ms,
    r.p999Ms,
    r.errors,
    r.requests,
    r.durationMs,
  ]),
)}
${facts([
  ["engine / HTTP ceiling", result.ratios.engineToHttpCeiling],
  ["engine / Redis ceiling", result.ratios.engineToRedisCeiling],
  ["engine / PostgreSQL design", result.ratios.engineToPostgres],
  ["Redis batched / single", result.ratios.redisBatchedToSingle],
  ["engine batched / single", result.ratios.engineBatchedToSingle],
])}
${table(
  ["run (inside Redis)", "script calls per request", "µs in scripts per request", "Redis CPU µs per request"],
  Object.entries(runs)
    .filter(([, r]) => r.redis)
    .map(([name, r]) => [name, r.redis!.callsPerRequest, r.redis!.scriptUsPerRequest, r.redis!.cpuUsPerRequest]),
)}
<h2>The on-sale</h2>
${facts([
  ["arrivals, ms", onSale.arrivalMs],
  ["settling, ms", onSale.settleMs],
  ["relay, ms", onSale.relayMs],
  ["holds", onSale.mix.holds],
  ["served from the line", onSale.mix.servedFromLine],
  ["paid (webhooks sent)", onSale.mix.paySent],
  ["cancelled", onSale.mix.cancelSent],
  ["left to expire", onSale.mix.leftToExpire],
  ["too late to act", onSale.mix.tooLate],
  ["expired", onSale.mix.expired],
  ["dropped from the line, sold out", onSale.mix.droppedFromLine],
])}
${table(["webhook outcome", "count"], Object.entries(onSale.mix.payOutcomes))}
${table(
  ["PostgreSQL status", "bookings", "tickets"],
  Object.entries(onSale.postgres).map(([status, row]) => [status, row.bookings, row.tickets]),
)}
<h2>Memory</h2>
${facts([
  ["Redis bytes per waiting person", mem.waiting.bytesPerWaiting],
  ["booking hash", mem.waiting.perKeyBytes.bookingHash],
  ["line entry", mem.waiting.perKeyBytes.line],
  ["open entry", mem.waiting.perKeyBytes.open],
  ["log entry", mem.waiting.perKeyBytes.log],
  ["INFO delta per person", mem.waiting.infoDeltaBytesPerWaiting],
])}
${table(
  ["process", "peak RSS MB"],
  Object.entries(mem.peakRssBytes).map(([name, bytes]) => [name, bytes / 1048576]),
)}
</body></html>
`;
}

export function writeResults(result: BenchResult, outDir: string, command: string): { json: string; html: string } {
  mkdirSync(outDir, { recursive: true });
  const json = join(outDir, "latest.json");
  const html = join(outDir, "report.html");
  writeFileSync(json, `${JSON.stringify({ command, ...result }, null, 2)}\n`);
  writeFileSync(html, renderReport(result, command));
  return { json, html };
}
