import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunResult } from "./load.js";
import { COST_COLUMNS, serverCpuUs } from "./costs.js";
import type { BenchResult } from "./run.js";

// A self-contained HTML report: tables and inline SVG plots, no scripts, no network.

const COLORS: Record<string, string> = {
  httpCeiling: "#7f7f7f",
  holdFloor: "#bcbd22",
  engineRefusals: "#ff7f0e",
  redisCeiling: "#d62728",
  redisCeilingSingle: "#ff9896",
  redisBatched: "#9467bd",
  engine: "#1f77b4",
  engineSingle: "#aec7e8",
  engineSingleAt80: "#8c564b",
  engineBatched: "#17becf",
  engineBatchedAt80: "#e377c2",
  postgres: "#2ca02c",
};
const WIDTH = 720;
const HEIGHT = 260;
const PAD = 48;

const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 2 });

function axes(xLabel: string, yLabel: string, yMax: number, xTicks: [number, string][]): string {
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const y = HEIGHT - PAD - f * (HEIGHT - 2 * PAD);
    return `<line x1="${PAD}" x2="${WIDTH - PAD}" y1="${y}" y2="${y}" stroke="#eee"/><text x="${PAD - 6}" y="${y + 4}" text-anchor="end">${fmt(yMax * f)}</text>`;
  });
  const xs = xTicks.map(([x, label]) => `<text x="${x}" y="${HEIGHT - PAD + 16}" text-anchor="middle">${label}</text>`);
  return `${yTicks.join("")}${xs.join("")}
    <line x1="${PAD}" x2="${WIDTH - PAD}" y1="${HEIGHT - PAD}" y2="${HEIGHT - PAD}" stroke="#333"/>
    <line x1="${PAD}" x2="${PAD}" y1="${PAD}" y2="${HEIGHT - PAD}" stroke="#333"/>
    <text x="${WIDTH / 2}" y="${HEIGHT - 8}" text-anchor="middle">${xLabel}</text>
    <text x="12" y="${HEIGHT / 2}" transform="rotate(-90 12 ${HEIGHT / 2})" text-anchor="middle">${yLabel}</text>`;
}

function legend(names: string[]): string {
  return names
    .map(
      (name, i) =>
        `<rect x="${WIDTH - PAD - 150}" y="${PAD + i * 16 - 9}" width="10" height="10" fill="${COLORS[name]}"/><text x="${WIDTH - PAD - 135}" y="${PAD + i * 16}">${name}</text>`,
    )
    .join("");
}

function svg(title: string, body: string): string {
  return `<figure><figcaption>${escapeHtml(title)}</figcaption><svg viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" font-size="11" font-family="sans-serif">${body}</svg></figure>`;
}

function throughputPlot(runs: Record<string, RunResult>): string {
  const names = Object.keys(runs);
  const tickSeconds = 0.25;
  const longest = Math.max(1, ...names.map((n) => runs[n]!.timeline.length));
  const yMax = Math.max(1, ...names.flatMap((n) => runs[n]!.timeline)) * 1.1;
  const x = (i: number) => PAD + (i / longest) * (WIDTH - 2 * PAD);
  const y = (v: number) => HEIGHT - PAD - (v / yMax) * (HEIGHT - 2 * PAD);
  const lines = names.map((name) => {
    const points = runs[name]!.timeline.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    return `<polyline fill="none" stroke="${COLORS[name]}" stroke-width="1.5" points="${points}"/>`;
  });
  const ticks: [number, string][] = [0, 0.25, 0.5, 0.75, 1].map((f) => [
    x(f * longest),
    `${fmt(f * longest * tickSeconds)} s`,
  ]);
  return svg(
    "Throughput over time (answers per second, 250 ms samples)",
    axes("time since the run started", "answers/s", yMax, ticks) + lines.join("") + legend(names),
  );
}

function histogramPlot(runs: Record<string, RunResult>): string {
  const names = Object.keys(runs);
  const all = names.flatMap((n) => runs[n]!.histogram.map(([ms]) => ms));
  const lo = Math.log10(Math.max(0.01, Math.min(...all)));
  const hi = Math.log10(Math.max(...all) * 1.2);
  const x = (ms: number) => PAD + ((Math.log10(ms) - lo) / (hi - lo || 1)) * (WIDTH - 2 * PAD);
  // Share of each run's answers per bucket, so runs of different sizes compare.
  const shares = names.map((n) => {
    const total = runs[n]!.histogram.reduce((a, [, c]) => a + c, 0) || 1;
    return runs[n]!.histogram.map(([ms, c]) => [ms, c / total] as [number, number]);
  });
  const yMax = Math.max(0.01, ...shares.flat().map(([, s]) => s)) * 1.1;
  const y = (v: number) => HEIGHT - PAD - (v / yMax) * (HEIGHT - 2 * PAD);
  const lines = names.map(
    (name, i) =>
      `<polyline fill="none" stroke="${COLORS[name]}" stroke-width="1.5" points="${shares[i]!.map(([ms, s]) => `${x(ms).toFixed(1)},${y(s).toFixed(1)}`).join(" ")}"/>`,
  );
  const ticks: [number, string][] = [];
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) ticks.push([x(10 ** e), `${fmt(10 ** e)} ms`]);
  return svg(
    "Latency histogram (share of answers per 2% bucket, log scale)",
    axes("latency", "share", yMax, ticks) + lines.join("") + legend(names),
  );
}

function percentilePlot(runs: Record<string, RunResult>): string {
  const names = Object.keys(runs);
  const labels = ["p50Ms", "p99Ms", "p999Ms"] as const;
  const yMax = Math.max(1, ...names.flatMap((n) => labels.map((l) => runs[n]![l]))) * 1.1;
  const group = (WIDTH - 2 * PAD) / labels.length;
  const bar = group / (names.length + 1);
  const bars = labels.flatMap((label, g) =>
    names.map((name, i) => {
      const v = runs[name]![label];
      const h = (v / yMax) * (HEIGHT - 2 * PAD);
      const x0 = PAD + g * group + (i + 0.5) * bar;
      return `<rect x="${x0.toFixed(1)}" y="${(HEIGHT - PAD - h).toFixed(1)}" width="${(bar * 0.9).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[name]}"><title>${name} ${label} ${v} ms</title></rect>`;
    }),
  );
  const ticks: [number, string][] = labels.map((l, g) => [PAD + (g + 0.5) * group, l.replace("Ms", "")]);
  return svg("Latency percentiles (ms)", axes("percentile", "ms", yMax, ticks) + bars.join("") + legend(names));
}

function table(head: string[], rows: (string | number)[][]): string {
  return `<table><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(typeof c === "number" ? fmt(c) : c)}</td>`).join("")}</tr>`).join("")}</table>`;
}

/** CPU µs per request by process for every run that measured it, then the targets met or not. */
function costSection(result: BenchResult): string {
  const runs = Object.entries(result.runs as unknown as Record<string, RunResult>).filter(([, r]) => r.cpuUsPerRequest);
  const columns = COST_COLUMNS.filter((name) => runs.some(([, r]) => r.cpuUsPerRequest![name] !== undefined));
  const rows = runs.map(([name, r]) => [name, ...columns.map((c) => r.cpuUsPerRequest![c] ?? "—"), serverCpuUs(r)]);
  const met = result.costTargets.filter((t) => t.met).length;
  return `<h2>Cost per request, by process</h2>
<p>CPU µs each process spent per request (from <code>/proc/&lt;pid&gt;/stat</code>, Redis <code>INFO cpu</code>, PostgreSQL as the sum of its backends), measured side by side in this run. <b>${met} of ${result.costTargets.length} cost targets met.</b></p>
<div class="wide">${table(["run", ...columns, "system"], rows)}</div>
<p>With nothing asked of them, the engine's processes spent (CPU µs per second): ${escapeHtml(
    Object.entries(result.idleCpuUsPerSecond)
      .map(([name, us]) => `${name} ${fmt(us)}`)
      .join(", "),
  )}.</p>
${table(
  ["target", "value", "limit", "met?", "measured as"],
  result.costTargets.map((t) => [t.target, t.value, t.limit, t.met ? "met" : "not met", t.measured]),
)}`;
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

export function renderReport(result: BenchResult, command: string): string {
  const runs = result.runs as unknown as Record<string, RunResult>;
  const inv = result.invariants;
  const runRows = Object.entries(runs).map(([name, r]) => [
    name,
    r.rps,
    r.p50Ms,
    r.p99Ms,
    r.p999Ms,
    r.errors,
    r.requests,
    r.durationMs,
  ]);
  const mem = result.memory;
  return `<!doctype html><html><head><meta charset="utf-8"><title>On-sale benchmark ${escapeHtml(result.startedAt)}</title>
<style>body{font-family:sans-serif;max-width:780px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}figure{margin:1.5em 0}.wide{overflow-x:auto}.wide td,.wide th{padding:3px 4px}figcaption{font-weight:bold}.ok{color:#2ca02c}.bad{color:#d62728}code{background:#f4f4f4;padding:2px 4px}</style></head><body>
<h1>On-sale benchmark</h1>
<p><code>${escapeHtml(command)}</code><br>${escapeHtml(result.startedAt)} · ${result.machine.cpus} cores (shared; load average ${result.machine.loadAverage.map((l) => l.toFixed(2)).join(" ")}) · ${fmt(result.people)} people · ${fmt(result.tickets)} tickets · ${result.workers} HTTP worker process(es) · ${fmt(result.durationMs / 1000)} s in all</p>
${costSection(result)}
${rivalsSection(result)}
<h2>Invariants: <span class="${inv.ok ? "ok" : "bad"}">${inv.ok ? "all held" : "BROKEN"}</span></h2>
${table(["oversold", "FCFS violations", "paid rows missing", "paid rows too many"], [[inv.oversold, inv.fcfsViolations, inv.missingRows, inv.duplicateRows]])}
${inv.problems.length ? `<ul>${inv.problems.map((p) => `<li class="bad">${escapeHtml(p)}</li>`).join("")}</ul>` : ""}
<h2>Side by side</h2>
${table(["run", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "requests", "duration ms"], runRows)}
${table(["engine / HTTP ceiling (3/1)", "engine / Redis ceiling (3/2)", "Redis batched / single", "engine batched / single"], [[result.ratios.engineToHttpCeiling, result.ratios.engineToRedisCeiling, result.ratios.redisBatchedToSingle, result.ratios.engineBatchedToSingle]])}
${table(
  ["run (inside Redis)", "script calls per request", "µs in scripts per request", "Redis CPU µs per request"],
  Object.entries(runs)
    .filter(([, r]) => r.redis)
    .map(([name, r]) => [name, r.redis!.callsPerRequest, r.redis!.scriptUsPerRequest, r.redis!.cpuUsPerRequest]),
)}
${throughputPlot(runs)}
${histogramPlot(runs)}
${percentilePlot(runs)}
<h2>The on-sale</h2>
${table(["arrivals ms", "settle ms", "relay ms", "holds", "served from line", "paid (webhooks)", "cancelled", "left to expire", "too late to act", "expired", "dropped sold out"], [[result.onSale.arrivalMs, result.onSale.settleMs, result.onSale.relayMs, result.onSale.mix.holds, result.onSale.mix.servedFromLine, result.onSale.mix.paySent, result.onSale.mix.cancelSent, result.onSale.mix.leftToExpire, result.onSale.mix.tooLate, result.onSale.mix.expired, result.onSale.mix.droppedFromLine]])}
${table(["webhook outcome", "count"], Object.entries(result.onSale.mix.payOutcomes))}
${table(
  ["PostgreSQL status", "bookings", "tickets"],
  Object.entries(result.onSale.postgres).map(([s, v]) => [s, v.bookings, v.tickets]),
)}
<h2>Memory</h2>
${table(["Redis bytes per waiting person", "booking hash", "line entry", "open entry", "log entry", "INFO delta per person"], [[mem.waiting.bytesPerWaiting, mem.waiting.perKeyBytes.bookingHash, mem.waiting.perKeyBytes.line, mem.waiting.perKeyBytes.open, mem.waiting.perKeyBytes.log, mem.waiting.infoDeltaBytesPerWaiting]])}
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
