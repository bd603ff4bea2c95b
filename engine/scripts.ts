import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Arg, ScriptSettings } from "./commands.js";
import { eventKeysLua } from "./keys.js";
import { Command, type Redis } from "ioredis";
import { isCluster, type RedisClient } from "./redis.js";
import { resolveSchemaNames, schemaLua } from "./schema.js";

// Lua scripts live in lua/, one file per atomic operation. A line `--- @include "x"`
// is replaced by lua/x.lua when the script is loaded; each include is inserted once.
// "generated/x" is Lua built from TypeScript instead of read from a file, and the names a
// script takes from the schema (STATE.held, EVENT.instock) become literals. The process's
// settings are written in as constants ("generated/settings"): they are the same on every call,
// so they are not sent with each, and the script's SHA names them (processes with other
// settings run their own copy).

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "lua");
const INCLUDE = /^--- @include "([\w/]+)"$/gm;
const GENERATED: Record<string, (settings: ScriptSettings) => string> = {
  "generated/schema": schemaLua,
  "generated/keys": eventKeysLua,
  "generated/settings": settingsLua,
};

/** The include "generated/settings": SETTINGS, each setting by its name in ScriptSettings. */
function settingsLua(settings: ScriptSettings): string {
  const entries = Object.entries(settings).map(([name, value]) => {
    if (!Number.isSafeInteger(value)) throw new Error(`script setting ${name} is not an integer: ${value}`);
    return `${name} = ${value}`;
  });
  return `-- The settings of the process that loaded this script.\nlocal SETTINGS = { ${entries.join(", ")} }\n`;
}

export function loadLua(name: string, settings: ScriptSettings): string {
  const seen = new Set<string>();
  const expand = (file: string): string =>
    (GENERATED[file]?.(settings) ?? readFileSync(join(LUA_DIR, `${file}.lua`), "utf8")).replace(
      INCLUDE,
      (_line, include: string) => {
        if (seen.has(include)) return "";
        seen.add(include);
        return expand(include);
      },
    );
  return resolveSchemaNames(expand(name), name);
}

/** What a script answered, before its decoder in engine/commands.ts checks it. */
export type ScriptReply = unknown;
type Script = (...keysAndArgs: Arg[]) => Promise<ScriptReply>;

/** The scripts an engine calls, one per file in lua/; their KEYS and ARGV come from engine/commands.ts. */
export interface ScriptCommands {
  hold: Script;
  hold_batch: Script;
  cancel: Script;
  confirm: Script;
  sweep: Script;
  lookup: Script;
  load: Script;
  recover: Script;
}

/** Each script and the number of KEYS it takes: an event's scripts take event:{E} alone. */
export const SCRIPTS: Record<keyof ScriptCommands, number> = {
  hold: 1,
  hold_batch: 1,
  cancel: 1,
  confirm: 1,
  sweep: 1,
  load: 1,
  recover: 1,
  lookup: 2,
};

/**
 * Registers every script on the client, under its name and the first characters of its SHA (a
 * client may serve engines of different settings), once per client and settings; ioredis sends
 * EVALSHA and falls back to EVAL on NOSCRIPT.
 */
export function defineScripts(redis: RedisClient, settings: ScriptSettings): ScriptCommands {
  const scripts: Record<string, Script> = {};
  const commands = redis as unknown as Record<string, Script>;
  for (const [name, numberOfKeys] of Object.entries(SCRIPTS)) {
    const lua = loadLua(name, settings);
    const command = `${name}_${createHash("sha1").update(lua).digest("hex").slice(0, 12)}`;
    if (!(command in redis)) redis.defineCommand(command, { numberOfKeys, lua });
    // A defined command is a method: it needs its client as `this`.
    scripts[name] = (...args) => commands[command]!.call(redis, ...args);
  }
  return scripts as unknown as ScriptCommands;
}

/**
 * One script sent as EVALSHA straight to the connection, past ioredis's script and
 * auto-pipelining layers (several microseconds a call, on every booking). The socket is corked
 * for the rest of the event-loop turn, so the calls of one turn still leave in one write. A
 * Redis without the script (new, or restarted) answers NOSCRIPT, and the call is sent again as
 * EVAL, which loads it. One Redis only: on a Cluster the defined command routes by slot.
 */
export function directScript(redis: RedisClient, name: keyof ScriptCommands, settings: ScriptSettings): Script {
  if (isCluster(redis)) return defineScripts(redis, settings)[name];
  const connection: Redis = redis;
  const lua = loadLua(name, settings);
  const sha = createHash("sha1").update(lua).digest("hex");
  const numberOfKeys = SCRIPTS[name];
  const evalshaHead = scriptCallHead("evalsha", sha, numberOfKeys);
  const evalHead = scriptCallHead("eval", lua, numberOfKeys);
  let corked = false;
  const send = (command: "evalsha" | "eval", head: string, args: Arg[]): Promise<ScriptReply> => {
    const stream = connection.stream;
    if (!corked && connection.status === "ready" && stream.writable) {
      corked = true;
      stream.cork();
      setImmediate(() => {
        corked = false;
        stream.uncork();
      });
    }
    return connection.sendCommand(new ScriptCall(command, head, args)) as Promise<ScriptReply>;
  };
  return (...args) =>
    send("evalsha", evalshaHead, args).catch((error: unknown) => {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return send("eval", evalHead, args);
    });
}

const REPLY_UTF8 = { replyEncoding: "utf8" } as const;

/** What follows a call's count of entries in RESP: the command, the script (sha or text) and its number of keys. */
function scriptCallHead(command: string, script: string, numberOfKeys: number): string {
  return [command, script, String(numberOfKeys)].map((part) => `$${Buffer.byteLength(part)}\r\n${part}\r\n`).join("");
}

/**
 * A script call as ioredis queues it (its reply read and matched by ioredis as any other), but
 * written out here: ioredis's Command copies its arguments with Array.flat and measures each
 * one's UTF-8 length with a native call, about 10 µs for a hold's 35 arguments; this measures
 * them all with one call when they are ASCII, as they nearly always are.
 */
class ScriptCall extends Command {
  constructor(
    command: "evalsha" | "eval",
    private readonly head: string,
    private readonly scriptArgs: Arg[],
  ) {
    super(command, [], REPLY_UTF8);
    // Read only by ioredis's debug output.
    this.args = scriptArgs;
  }

  override toWritable(): string {
    const args = this.scriptArgs;
    let body = "";
    for (const arg of args) {
      const text = typeof arg === "string" ? arg : String(arg);
      body += `$${text.length}\r\n${text}\r\n`;
    }
    if (Buffer.byteLength(body) !== body.length) {
      // Not all ASCII: a length in RESP counts bytes, not characters.
      body = "";
      for (const arg of args) {
        const text = typeof arg === "string" ? arg : String(arg);
        body += `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
      }
    }
    return `*${args.length + 3}\r\n${this.head}${body}`;
  }
}
