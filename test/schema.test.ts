import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it, onTestFinished } from "vitest";
import { loadConfig } from "../engine/config.js";
import { Engine, type EventRecord } from "../engine/engine.js";
import { decodeLogEntry } from "../engine/eventLog.js";
import { scratchEvent } from "../testkit/fixtures.js";
import { bookingKey, eventKeys, eventKeysLua, logKey } from "../engine/keys.js";
import { connectRedis } from "../engine/redis.js";
import {
  BOOKING,
  BOOKING_HASH,
  BOOKING_STATES,
  EVENT,
  LOG_HEAD,
  LOG_NAMES,
  TERMINAL_STATES,
} from "../engine/schema.js";
import { createPool } from "../sql/db.js";

// engine/schema.ts is the one definition of booking states and of the booking, event and log
// fields. These tests hold the Lua sources, the booking page and PostgreSQL to it, so a state
// or field added on one side only fails here.

const ROOT = join(import.meta.dirname, "..");
const LUA_DIR = join(ROOT, "lua");

function luaSources(): { file: string; code: string }[] {
  const files = [
    ...readdirSync(LUA_DIR).filter((f) => f.endsWith(".lua")),
    ...readdirSync(join(LUA_DIR, "includes")).map((f) => `includes/${f}`),
  ];
  // Comments out: they may name states and fields freely.
  return files.map((file) => ({
    file,
    code: readFileSync(join(LUA_DIR, file), "utf8")
      .replace(/--\[\[[\s\S]*?\]\]/g, "")
      .replace(/--.*$/gm, ""),
  }));
}

/** Every `redis.call(...)` in the code with its arguments, split at top-level commas. */
function redisCalls(code: string): string[][] {
  const calls: string[][] = [];
  for (const match of code.matchAll(/redis\.call\(/g)) {
    const args: string[] = [];
    let depth = 0;
    let current = "";
    for (let i = match.index + match[0].length; i < code.length; i++) {
      const c = code[i]!;
      if (depth === 0 && (c === "," || c === ")")) {
        args.push(current.trim());
        current = "";
        if (c === ")") break;
        continue;
      }
      if (c === "(" || c === "{") depth++;
      if (c === ")" || c === "}") depth--;
      current += c;
    }
    calls.push(args);
  }
  return calls;
}

/** Hashes that are not a booking or an event: the people (tickets and open booking per person) and the gate's buckets. */
const OTHER_HASHES = new Set(["ctx.people", "bucketKey"]);

const isLiteral = (arg: string) => /^'[^']*'$/.test(arg);
const usesOf = (code: string, table: string) =>
  [...code.matchAll(new RegExp(`\\b${table}\\.(\\w+)`, "g"))].map((m) => m[1]!);

describe("the schema and the Lua scripts", () => {
  const sources = luaSources();

  it("the scripts name only states, fields and log names the schema has", () => {
    const known: Record<string, readonly string[]> = {
      STATE: BOOKING_STATES,
      BOOKING: Object.keys(BOOKING),
      EVENT: Object.keys(EVENT),
      LOG: Object.keys(LOG_HEAD),
    };
    const unknown: string[] = [];
    for (const { file, code } of sources) {
      for (const [table, names] of Object.entries(known)) {
        for (const name of usesOf(code, table)) if (!names.includes(name)) unknown.push(`${file}: ${table}.${name}`);
      }
    }
    expect(unknown).toEqual([]);
  });

  it("the scripts name every state, and only through STATE", () => {
    const used = new Set(sources.flatMap(({ code }) => usesOf(code, "STATE")));
    expect(BOOKING_STATES.filter((state) => !used.has(state))).toEqual([]);
    const literals = sources.flatMap(({ file, code }) =>
      BOOKING_STATES.filter((state) => code.includes(`'${state}'`)).map((state) => `${file}: '${state}'`),
    );
    expect(literals).toEqual([]);
  });

  it("the scripts read and write booking and event hashes and the log only through the schema's names", () => {
    const literalFields: string[] = [];
    for (const { file, code } of sources) {
      for (const [command, key, ...rest] of redisCalls(code)) {
        const hashCall = /^'H/.test(command ?? "") && !OTHER_HASHES.has(key ?? "");
        const logCall = command === "'XADD'";
        if (!hashCall && !logCall) continue;
        const fields = logCall ? rest.slice(1) : rest;
        for (const arg of fields) if (isLiteral(arg)) literalFields.push(`${file}: ${command} ${key} ${arg}`);
      }
    }
    expect(literalFields).toEqual([]);
  });
});

describe("the schema and what the scripts store", () => {
  const config = loadConfig({
    REDIS_URL: inject("redisUrl"),
    DATABASE_URL: inject("databaseUrl"),
    LOG_LEVEL: "silent",
  });
  const redis = connectRedis(config.redis);
  afterAll(() => redis.quit());

  it("a script builds from event:{E} the keys engine/keys.ts builds for the event, in its slot", async () => {
    const keys = eventKeys(scratchEvent(1).id);
    const names = "event, line, holds, people, log, bookingPrefix, idemPrefix, ratePrefix, powPrefix";
    const lua = `${eventKeysLua()}\nlocal c = eventContext(KEYS[1])\nreturn { ${names.replace(/\w+/g, "c.$&")} }`;
    expect(await redis.eval(lua, 1, keys[0])).toEqual([...keys]);
  });

  it("a booking's hash and its log entries hold only the schema's fields, empty ones left out", async () => {
    const engine = new Engine(redis, config);
    const event: EventRecord = { ...scratchEvent(1), name: "Schema", venue: "Hall", price: 1000, maxPerUser: 1 };
    const eventId = event.id;
    // Gone however the test ends, so no other file's sweep meets a half-written event.
    onTestFinished(async () => {
      await redis.del(...eventKeys(eventId).slice(0, 5));
      await engine.forgetLiveEvents([eventId]);
    });
    const loaded = await engine.loadEvent(event, 0);
    const eventFields = new Set<string>(Object.values(EVENT));
    expect(Object.keys(loaded.fields).filter((field) => !eventFields.has(field))).toEqual([]);

    const held = await engine.hold({ eventId, userId: "u1", quantity: 1, email: "a@example.com", idempotencyKey: "" });
    await engine.hold({ eventId, userId: "u2", quantity: 1, email: "", idempotencyKey: "" });
    await engine.cancel(held.id, held.token);
    // Empty fields are left out (they read as empty); every field written is the schema's.
    const stored = await redis.hgetall(bookingKey(eventId, held.id));
    expect(Object.keys(stored).filter((field) => !Object.hasOwn(BOOKING_HASH, field))).toEqual([]);
    expect(stored).toMatchObject({ user: "u1", state: "cancelled", email: "a@example.com", reason: "user" });

    const entries = await redis.xrange(logKey(eventId), "-", "+");
    expect(entries.map(([id, flat]) => decodeLogEntry(id, flat).status)).toEqual([
      "held",
      "waiting",
      "cancelled",
      "held",
    ]);
    const logged = new Set(entries.flatMap(([, flat]) => flat.filter((_, i) => i % 2 === 0)));
    expect([...logged].filter((name) => !LOG_NAMES.includes(name))).toEqual([]);
    const cancelled = decodeLogEntry(entries[2]![0], entries[2]![1]);
    expect(cancelled).toMatchObject({ kind: "cancelled", userId: "u1", email: "a@example.com", reason: "user" });
    expect(cancelled.createdAtMs).toBe(decodeLogEntry(entries[0]![0], entries[0]![1]).atMs);
  });
});

describe("the schema elsewhere", () => {
  it("PostgreSQL's booking_status is the schema's list of states", async () => {
    const pool = createPool(inject("databaseUrl"), 1);
    try {
      const { rows } = await pool.query<{ state: string }>(
        "SELECT unnest(enum_range(NULL::booking_status))::text AS state",
      );
      expect(rows.map((row) => row.state)).toEqual([...BOOKING_STATES]);
    } finally {
      await pool.end();
    }
  });

  it("the booking page names only the schema's states and has words for every terminal one", () => {
    const page = readFileSync(join(ROOT, "http", "static", "site.js"), "utf8");
    expect(usesOf(page, "STATE").filter((state) => !(BOOKING_STATES as readonly string[]).includes(state))).toEqual([]);
    expect(TERMINAL_STATES.filter((state) => !page.includes(`[STATE.${state}]:`))).toEqual([]);
  });
});
