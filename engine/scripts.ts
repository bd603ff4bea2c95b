import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { EVENT_KEYS } from "./keys.js";
import type { RedisClient } from "./redis.js";

// Lua scripts live in lua/, one file per atomic operation. A line `--- @include "x"`
// is replaced by lua/x.lua when the script is loaded; each include is inserted once.

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "lua");
const INCLUDE = /^--- @include "([\w/]+)"$/gm;

export function loadLua(name: string): string {
  const seen = new Set<string>();
  const expand = (file: string): string =>
    readFileSync(join(LUA_DIR, `${file}.lua`), "utf8").replace(INCLUDE, (_line, include: string) => {
      if (seen.has(include)) return "";
      seen.add(include);
      return expand(include);
    });
  return expand(name);
}

type Arg = string | number;
export type ScriptReply = (string | number | null)[];

/** The commands the engine defines on its Redis client, one per file in lua/. */
export interface ScriptCommands {
  hold(...keysAndArgs: Arg[]): Promise<ScriptReply>;
  hold_batch(...keysAndArgs: Arg[]): Promise<ScriptReply[]>;
  cancel(...keysAndArgs: Arg[]): Promise<ScriptReply>;
  confirm(...keysAndArgs: Arg[]): Promise<ScriptReply>;
  sweep(...keysAndArgs: Arg[]): Promise<ScriptReply>;
  lookup(...keysAndArgs: Arg[]): Promise<ScriptReply>;
  load(...keysAndArgs: Arg[]): Promise<ScriptReply>;
  recover(...keysAndArgs: Arg[]): Promise<ScriptReply>;
}

const SCRIPTS: Record<keyof ScriptCommands, number> = {
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
