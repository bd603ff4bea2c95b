import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Arg } from "./commands.js";
import { EVENT_KEYS } from "./keys.js";
import { Command, type Redis } from "ioredis";
import { isCluster, type RedisClient } from "./redis.js";
import { resolveSchemaNames, schemaLua } from "./schema.js";

// Lua scripts live in lua/, one file per atomic operation. A line `--- @include "x"`
// is replaced by lua/x.lua when the script is loaded; each include is inserted once.
// "generated/x" is Lua built from TypeScript instead of read from a file, and the names a
// script takes from the schema (STATE.held, EVENT.instock) become literals.

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "lua");
const INCLUDE = /^--- @include "([\w/]+)"$/gm;
const GENERATED: Record<string, () => string> = { "generated/schema": schemaLua };

export function loadLua(name: string): string {
  const seen = new Set<string>();
  const expand = (file: string): string =>
    (GENERATED[file]?.() ?? readFileSync(join(LUA_DIR, `${file}.lua`), "utf8")).replace(
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

/** The commands the engine defines on its Redis client, one per file in lua/; their KEYS and ARGV come from engine/commands.ts. */
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

/** Each script and the number of KEYS it takes. */
export const SCRIPTS: Record<keyof ScriptCommands, number> = {
  hold: EVENT_KEYS,
  hold_batch: EVENT_KEYS,
  cancel: EVENT_KEYS,
  confirm: EVENT_KEYS,
  sweep: EVENT_KEYS,
  load: EVENT_KEYS,
  recover: EVENT_KEYS,
  lookup: 2,
};

const defined = new WeakSet<RedisClient>();

/** Registers every script once per client; ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT. */
export function defineScripts(redis: RedisClient): RedisClient & ScriptCommands {
  if (!defined.has(redis)) {
    for (const [name, numberOfKeys] of Object.entries(SCRIPTS)) {
      if (name in redis) throw new Error(`script name ${name} would shadow an ioredis property`);
      redis.defineCommand(name, { numberOfKeys, lua: loadLua(name) });
    }
    defined.add(redis);
  }
  return redis as RedisClient & ScriptCommands;
}

/**
 * One script sent as EVALSHA straight to the connection, past ioredis's script and
 * auto-pipelining layers (several microseconds a call, on every booking). The socket is corked
 * for the rest of the event-loop turn, so the calls of one turn still leave in one write. A
 * Redis without the script (new, or restarted) answers NOSCRIPT, and the call is sent again as
 * EVAL, which loads it. One Redis only: on a Cluster the defined command routes by slot.
 */
export function directScript(redis: RedisClient, name: keyof ScriptCommands): Script {
  if (isCluster(redis)) {
    // A defined command is a method: it needs its client as `this`.
    const scripts = defineScripts(redis);
    return (...args) => scripts[name](...args);
  }
  const connection: Redis = redis;
  const lua = loadLua(name);
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
