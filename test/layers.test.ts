import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";

// Layers point one way: http/ parses and replies, application/ spans SQL, queues and the
// engine, and the lower folders never reach back up.

const ROOT = join(import.meta.dirname, "..");

/** The folders each .ts file of a folder imports from (relative imports only). */
function importedFolders(folder: string): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const entry of readdirSync(join(ROOT, folder), { recursive: true, encoding: "utf8" })) {
    if (!entry.endsWith(".ts")) continue;
    const text = readFileSync(join(ROOT, folder, entry), "utf8");
    const folders = new Set<string>();
    for (const [, path] of text.matchAll(/from "((?:\.\.?\/)+[^"]+)"/g)) {
      const parts = join(folder, dirname(entry), path!).split("/");
      folders.add(parts.length > 1 ? parts[0]! : ".");
    }
    found.set(join(folder, entry), folders);
  }
  return found;
}

const FORBIDDEN: [folder: string, mustNotImport: string[]][] = [
  ["http", ["jobs", "bin"]],
  ["search", ["http", "jobs", "application"]],
  ["sql", ["search", "http", "jobs", "application"]],
  ["engine", ["http", "jobs", "application", "search", "sql"]],
  ["application", ["http"]],
];

describe("layering", () => {
  for (const [folder, forbidden] of FORBIDDEN) {
    it(`${folder}/ imports none of ${forbidden.join(", ")}`, () => {
      const offending: string[] = [];
      for (const [file, folders] of importedFolders(folder)) {
        for (const other of forbidden) if (folders.has(other)) offending.push(`${file} -> ${other}/`);
      }
      expect(offending).toEqual([]);
    });
  }
});
