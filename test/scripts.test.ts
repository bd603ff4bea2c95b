import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SCRIPT_EVENT_ID as eventId, SCRIPT_SETTINGS as settings, scriptHoldInput } from "../testkit/fixtures.js";
import {
  cancelArgs,
  confirmArgs,
  decodeCancel,
  decodeHold,
  decodeHoldBatch,
  decodeLookup,
  decodeRecover,
  decodeSweep,
  HOLD_BATCH_REQUEST_ARGS,
  REFUSALS,
  holdArgs,
  holdBatchArgs,
  loadArgs,
  lookupArgs,
  recoverArgs,
  sweepArgs,
  type Arg,
} from "../engine/commands.js";
import { EngineError } from "../engine/errors.js";
import { bookingKey, EVENT_KEYS, eventKeys, lineKey } from "../engine/keys.js";
import { loadLua, SCRIPTS, type ScriptCommands } from "../engine/scripts.js";

// The typed script boundary (engine/commands.ts) against the scripts' Input headers: each
// builder sends exactly the KEYS and ARGV its script's header lists, and each decoder refuses
// a reply of another shape, naming the script.

const LUA_DIR = join(import.meta.dirname, "..", "lua");

interface Header {
  keys: number;
  /** ARGV entries before any variable tail. */
  argv: number;
  /** A tail of field, value pairs (ARGV[n..]). */
  pairsTail: boolean;
  /** hold_batch: entries per request after the head. */
  perRequest: number;
}

function header(script: string): Header {
  const text = readFileSync(join(LUA_DIR, `${script}.lua`), "utf8");
  const input = text.slice(text.indexOf("Input:"), text.indexOf("Output:"));
  const keys = highestIndex(input, "KEYS");
  const tail = /ARGV\[(\d+)\.\.\]/.exec(input);
  const fixed = highestIndex(input, "ARGV");
  const perRequest = Number(/per request, (\d+) entries/.exec(input)?.[1] ?? 0);
  return { keys, argv: tail ? Number(tail[1]) - 1 : fixed, pairsTail: tail !== null, perRequest };
}

function highestIndex(text: string, array: "KEYS" | "ARGV"): number {
  return Math.max(0, ...[...text.matchAll(new RegExp(`${array}\\[(\\d+)\\]`, "g"))].map((m) => Number(m[1])));
}

const keys = eventKeys(eventId);
const request = scriptHoldInput({
  clientIp: "127.0.0.1",
  proof: { challenge: "c", nonce: "n", bits: 8, expiresAtMs: 9, eventId },
  proofSent: true,
});

/** Each script's builder with a sample input; `extra` adds n variable-tail pairs or batch requests. */
const BUILDERS: Record<keyof ScriptCommands, (extra: number) => Arg[]> = {
  hold: () => holdArgs(keys, 0, request),
  hold_batch: (n) =>
    holdBatchArgs(
      keys,
      0,
      Array.from({ length: n }, () => request),
    ),
  cancel: () => cancelArgs(keys, 0, { bookingId: "b", secret: "s", reason: "user" }),
  confirm: () => confirmArgs(keys, 0, { bookingId: "b", paymentRef: "p", amount: 1, currency: "EUR" }),
  sweep: () => sweepArgs(keys, 0),
  lookup: () => lookupArgs({ eventId, bookingId: "b", secret: "s" }),
  load: (n) =>
    loadArgs(keys, { capacity: 1, paidInDb: 0, fields: Array.from({ length: n }, () => ["status", "on_sale"]).flat() }),
  recover: (n) =>
    recoverArgs(keys, 0, {
      paid: 0,
      maxArrivalSeq: 0,
      maxHoldSeq: 0,
      relayedUpTo: "0-0",
      paidByUser: Array.from({ length: n }, (_, i) => [`u${i}`, 1] as [string, number]),
      restore: [],
    }),
};

describe("script builders and the Lua Input headers", () => {
  it("includes/context.lua lists exactly the keys engine/keys.ts builds for an event", () => {
    const listed = readFileSync(join(LUA_DIR, "includes", "context.lua"), "utf8").match(/^ {4}\w+:\{E\}:?/gm);
    expect(listed?.map((key) => key.trim().replace("{E}", `{${eventId}}`))).toEqual([...keys]);
    expect(eventKeys(eventId)).toHaveLength(EVENT_KEYS);
  });

  it("every script in lua/ is registered and has a builder", () => {
    const files = readdirSync(LUA_DIR)
      .filter((f) => f.endsWith(".lua"))
      .map((f) => f.slice(0, -4))
      .sort();
    expect(Object.keys(SCRIPTS).sort()).toEqual(files);
    expect(Object.keys(BUILDERS).sort()).toEqual(files);
  });

  it("every script loads: its includes exist and every schema name it uses is in engine/schema.ts", () => {
    for (const script of Object.keys(SCRIPTS)) expect(() => loadLua(script, settings), script).not.toThrow();
  });

  for (const script of Object.keys(BUILDERS) as (keyof ScriptCommands)[]) {
    it(`${script}: the builder sends the KEYS and ARGV its header lists`, () => {
      const h = header(script);
      expect(SCRIPTS[script], "numberOfKeys").toBe(h.keys);
      const build = BUILDERS[script];
      const args = build(0);
      expect(args.length - h.keys, "ARGV entries").toBe(h.argv);
      expect(args.slice(0, h.keys)).toEqual(
        script === "lookup" ? [bookingKey(eventId, "b"), lineKey(eventId)] : [keys[0]],
      );
      if (h.pairsTail) expect(build(3).length - args.length, "a tail of pairs").toBe(6);
      if (script === "hold_batch") {
        expect(HOLD_BATCH_REQUEST_ARGS).toBe(h.perRequest);
        expect(build(2).length - args.length, "per request").toBe(2 * h.perRequest);
      }
    });
  }
});

describe("script reply decoders", () => {
  it("accept as refusals exactly the codes each script's Output header lists", () => {
    /** Codes a decoder answers as a result, not an error. */
    const answered: Partial<Record<keyof typeof REFUSALS, string[]>> = {
      sweep: ["EVENT_NOT_FOUND"],
      recover: ["RELAY_BEHIND"],
    };
    for (const script of Object.keys(REFUSALS) as (keyof typeof REFUSALS)[]) {
      const text = readFileSync(join(LUA_DIR, `${script}.lua`), "utf8");
      const output = text.slice(text.indexOf("Output:"), text.indexOf("]]"));
      const listed = new Set(output.match(/\b[A-Z][A-Z_]{3,}\b/g));
      expect([...listed].sort(), script).toEqual([...REFUSALS[script], ...(answered[script] ?? [])].sort());
    }
  });

  const booking = (kind: string, state: string): unknown[] => [
    "ok",
    kind,
    "b",
    state,
    1,
    0,
    0,
    "s",
    "u",
    100,
    "eur",
    "",
  ];

  it("decode a booking reply and refuse a state or kind the script does not give", () => {
    expect(decodeHold(eventId, booking("held", "held"))).toMatchObject({
      kind: "held",
      status: "held",
      id: "b",
      quantity: 1,
    });
    expect(() => decodeHold(eventId, booking("held", "frozen"))).toThrow(/script hold .*unknown booking state frozen/);
    expect(() => decodeCancel(eventId, booking("held", "cancelled"))).toThrow(/script cancel .*unknown kind held/);
    expect(() => decodeLookup(eventId, booking("status", "held").slice(0, 11))).toThrow(
      /script lookup .*12 entries expected/,
    );
    expect(() => decodeLookup(eventId, ["ok", "status", "b", "held", "1", 0, 0, "s", "u", 100, "eur", ""])).toThrow(
      /script lookup .*entry 5/,
    );
  });

  it("turn a script's own refusal into its EngineError, and another code into an error naming the script", () => {
    expect(() => decodeHold(eventId, ["SOLD_OUT", ""])).toThrow(EngineError);
    expect(() => decodeCancel(eventId, ["SOLD_OUT", ""])).toThrow(/script cancel .*not a reply this script gives/);
    expect(() => decodeHold(eventId, "OK")).toThrow(/script hold .*not a list/);
  });

  it("decode sweep, recover and hold_batch replies uniformly", () => {
    expect(decodeSweep(["EVENT_NOT_FOUND", ""])).toBeNull();
    expect(decodeSweep(["ok", 1, 2, 3, 4, 5, 1])).toEqual({
      reclaimed: 1,
      served: 2,
      dropped: 3,
      lineLength: 4,
      holdCount: 5,
      finished: true,
    });
    expect(() => decodeSweep([-1])).toThrow(/script sweep/);
    expect(decodeRecover(["RELAY_BEHIND", "1-0"])).toMatchObject({ relayBehind: true });
    expect(decodeRecover(["ok", 1, 2, 3, 4, ["b"]])).toEqual({
      relayBehind: false,
      paidAdded: 1,
      countersRaised: 2,
      talliesRaised: 3,
      restored: 4,
      unrestored: ["b"],
    });
    expect(() => decodeRecover(["ok", 1, 2, 3, 4, [5]])).toThrow(/script recover/);
    expect(decodeHoldBatch([["EVENT_NOT_FOUND", ""]], 3)).toHaveLength(3);
    expect(() => decodeHoldBatch([["ok"], ["ok"]], 3)).toThrow(/script hold_batch .*2 replies for 3 holds/);
  });
});
