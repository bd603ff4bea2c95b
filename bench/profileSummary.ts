import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

// Where a process spent its CPU: reads the .cpuprofile files `npm run bench -- --profile`
// writes (node --cpu-prof) and prints self time by package/area and the top functions.
//   npx tsx bench/profileSummary.ts bench/results/profiles [top]

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

export function summarize(profile: Profile, top: number): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  for (const [i, id] of profile.samples.entries()) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const a = area(url, functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
    const f = `${functionName || "(anonymous)"} ${url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/(?=engine|http|jobs|sql|bin|bench)/, "")}:${lineNumber + 1}`;
    functions.set(f, (functions.get(f) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `total ${(total / 1e6).toFixed(1)} s sampled`,
    "self time by area:",
    ...sorted(areas).map(([name, us]) => `  ${pct(us)}  ${name}`),
    "top functions (self time):",
    ...sorted(functions).map(([name, us]) => `  ${pct(us)}  ${name}`),
  ].join("\n");
}

const [path = join("bench", "results", "profiles"), top = "15"] = process.argv.slice(2);
const files = path.endsWith(".cpuprofile")
  ? [path]
  : readdirSync(path)
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => join(path, f));
for (const file of files)
  process.stdout.write(`== ${file}\n${summarize(JSON.parse(readFileSync(file, "utf8")) as Profile, Number(top))}\n\n`);
