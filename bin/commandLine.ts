import { parseArgs } from "node:util";
import { wholeNumberIn } from "../engine/text.js";

// The command line of bin/onsale.ts: each command with the options it takes, checked before
// anything starts, so a typo or `--help` never runs a command with its defaults.

type OptionSpec = { type: "string" | "boolean" };

interface CommandSpec {
  usage: string;
  options: Record<string, OptionSpec>;
  /** Most words after the command (subcommand, event id). */
  positionalsMax: number;
}

const text: OptionSpec = { type: "string" };
const flag: OptionSpec = { type: "boolean" };

export const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  start: { usage: "start [--demo]", options: { demo: flag }, positionalsMax: 0 },
  serve: { usage: "serve [--workers N]", options: { workers: text }, positionalsMax: 0 },
  work: { usage: "work", options: {}, positionalsMax: 0 },
  gateway: { usage: "gateway", options: {}, positionalsMax: 0 },
  migrate: { usage: "migrate", options: {}, positionalsMax: 0 },
  seed: { usage: "seed", options: {}, positionalsMax: 0 },
  generate: {
    usage: "generate [--events N] [--seed S] [--batch B]",
    options: { events: text, seed: text, batch: text },
    positionalsMax: 0,
  },
  search: { usage: "search reindex", options: {}, positionalsMax: 1 },
  cache: {
    usage: "cache warm <eventId | --on-sale> | cache flush <eventId>",
    options: { "on-sale": flag },
    positionalsMax: 2,
  },
  reconcile: { usage: "reconcile [--repair] [eventId]", options: { repair: flag }, positionalsMax: 1 },
  mail: { usage: "mail", options: {}, positionalsMax: 0 },
  payments: { usage: "payments [--status s,…] [--limit N]", options: { status: text, limit: text }, positionalsMax: 0 },
  relay: { usage: "relay list | relay replay [deadLetterId]", options: {}, positionalsMax: 2 },
};

export const USAGE = `usage: onsale <command> [options]\n${Object.values(COMMANDS)
  .map((spec) => `  onsale ${spec.usage}`)
  .join("\n")}\n  onsale <command> --help`;

/** A command line that cannot run: the process prints it and exits 2. */
export class UsageError extends Error {}

export interface CommandLine {
  command: string;
  values: Readonly<Record<string, string | boolean | undefined>>;
  positionals: readonly string[];
}

/** The parsed command line, or "help" when it asks for the usage. */
export function parseCommandLine(argv: readonly string[]): CommandLine | "help" {
  const [command = "", ...rest] = argv;
  if (command === "--help" || command === "-h" || command === "help") return "help";
  const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (spec === undefined) throw new UsageError(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
  if (rest.includes("--help") || rest.includes("-h")) return "help";
  try {
    const { values, positionals } = parseArgs({
      args: [...rest],
      options: spec.options,
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length > spec.positionalsMax) throw new Error(`unexpected argument ${positionals.at(-1)}`);
    return { command, values, positionals };
  } catch (error) {
    throw new UsageError(`onsale ${command}: ${(error as Error).message}\nusage: onsale ${spec.usage}`);
  }
}

/** A whole-number option between min and max, or its fallback when absent. */
export function wholeNumber(line: CommandLine, name: string, fallback: number, min: number, max: number): number {
  const raw = line.values[name];
  if (raw === undefined) return fallback;
  const value = typeof raw === "string" ? wholeNumberIn(raw, min, max) : null;
  if (value === null) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  return value;
}
