import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

// Where a process spent its CPU: reads the .cpuprofile files `npm run bench -- --profile`
// writes (node --cpu-prof) and prints self time by package/area, the top functions by self
// time, and the top functions by inclusive time (itself and what it called).
//   npx tsx bench/profileSummary.ts bench/results/profiles [top] [skipMs]
// skipMs leaves out the profile's first milliseconds (the process starting, loading modules),
// so that what is left is the load; percentages are of the busy (not idle) time left.

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

function area(url: string, name: string): string {
  if (url === "")
    return name === "(garbage collector)" || name === "(idle)" || name === "(program)"
      ? name
      : "node internals (native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0]}`;
  const ours = /\/(engine|http|jobs|sql|bin|bench)\//.exec(url);
  return ours ? `ours: ${ours[1]}/` : url;
}

function label(node: Node): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/(?=engine|http|jobs|sql|bin|bench)/, "");
  return `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
}

/** µs of each sampled node (self time), leaving out the first skipMs. */
function selfTimes(profile: Profile, skipMs: number): Map<number, number> {
  const selfUs = new Map<number, number>();
  let atUs = 0;
  for (const [i, id] of profile.samples.entries()) {
    const deltaUs = profile.timeDeltas[i] ?? 0;
    atUs += deltaUs;
    if (atUs >= skipMs * 1000) selfUs.set(id, (selfUs.get(id) ?? 0) + deltaUs);
  }
  return selfUs;
}

/** Inclusive µs per function label: a sample counts once for each distinct function on its stack. */
function inclusiveTimes(profile: Profile, selfUs: Map<number, number>): Map<string, number> {
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) seen.add(label(byId.get(at)!));
    for (const name of seen) inclusive.set(name, (inclusive.get(name) ?? 0) + us);
  }
  return inclusive;
}

export function summarize(profile: Profile, top: number, skipMs = 0): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = selfTimes(profile, skipMs);
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const a = area(node.callFrame.url, node.callFrame.functionName);
    if (a === "(idle)") idleUs += us;
    areas.set(a, (areas.get(a) ?? 0) + us);
    functions.set(label(node), (functions.get(label(node)) ?? 0) + us);
  }
  const busy = [...selfUs.values()].reduce((a, b) => a + b, 0) - idleUs || 1;
  const pct = (us: number) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  const sorted = (m: Map<string, number>) =>
    [...m.entries()]
      .filter(([name]) => name !== "(idle)" && !name.startsWith("(idle) "))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top);
  return [
    `busy ${(busy / 1e6).toFixed(2)} s sampled (idle ${(idleUs / 1e6).toFixed(1)} s left out); % of busy time`,
    "self time by area:",
    ...sorted(areas).map(([name, us]) => `  ${pct(us)}  ${name}`),
    "top functions (self time):",
    ...sorted(functions).map(([name, us]) => `  ${pct(us)}  ${name}`),
    "top functions (inclusive time):",
    ...sorted(inclusiveTimes(profile, selfUs)).map(([name, us]) => `  ${pct(us)}  ${name}`),
  ].join("\n");
}

const [path = join("bench", "results", "profiles"), top = "15", skipMs = "0"] = process.argv.slice(2);
const files = path.endsWith(".cpuprofile")
  ? [path]
  : readdirSync(path)
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => join(path, f));
for (const file of files)
  process.stdout.write(
    `== ${file}\n${summarize(JSON.parse(readFileSync(file, "utf8")) as Profile, Number(top), Number(skipMs))}\n\n`,
  );
