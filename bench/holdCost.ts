import { Redis } from "ioredis";
import { holdArgs, scriptSettings, type HoldInput } from "../engine/commands.js";
import { loadConfig } from "../engine/config.js";
import { Engine } from "../engine/engine.js";
import { newBookingSecret, uuidv7 } from "../engine/ids.js";
import { eventKeys } from "../engine/keys.js";
import { directScript } from "../engine/scripts.js";
import { dropEvent, loadScratchEvent } from "../testkit/fixtures.js";
import { defineFloor, dropFloor, floorHold, prepareFloor } from "./floor.js";

// What one hold script call costs inside Redis, by outcome, beside bench/floor.lua: INFO
// commandstats usec_per_call over a quiet loop (one call at a time), the least of several
// rounds. Usage: tsx bench/holdCost.ts [redisUrl] [calls per round] [rounds]

const CAPACITY = 10_000_000;
const outcomes = ["held", "waiting", "gated", "soldOut"] as const;
type Outcome = (typeof outcomes)[number];

async function usecPerCall(redis: Redis, run: () => Promise<void>): Promise<number> {
  await redis.config("RESETSTAT");
  await run();
  const stats = await redis.info("commandstats");
  const evalsha = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(stats);
  return Number(evalsha?.[2] ?? 0) / Math.max(1, Number(evalsha?.[1] ?? 0));
}

async function main(): Promise<void> {
  const [url = "redis://127.0.0.1:6379", callsArg = "400", roundsArg = "12"] = process.argv.slice(2);
  const calls = Number(callsArg);
  const rounds = Number(roundsArg);
  const redis = new Redis(url);
  const config = loadConfig({ REDIS_URL: url });
  const engine = new Engine(redis, config);
  const settings = scriptSettings(config);
  const hold = directScript(redis, "hold", settings);
  const floor = defineFloor(redis);
  const open = await loadScratchEvent(engine, CAPACITY);
  const full = await loadScratchEvent(engine, 1);
  const gone = await loadScratchEvent(engine, 0);
  let n = 0;
  const request = (gated: boolean): HoldInput => {
    n += 1;
    return {
      bookingId: uuidv7(),
      secret: newBookingSecret(),
      userId: `cost-${n}`,
      quantity: 1,
      email: "",
      idempotencyKey: "",
      gate: gated
        ? { clientIp: `10.${n >> 16}.${(n >> 8) & 255}.${n & 255}`, proof: null, proofSent: false }
        : undefined,
      identityVerified: false,
    };
  };
  const eventOf: Record<Outcome, string> = { held: open.id, waiting: full.id, gated: open.id, soldOut: gone.id };
  const call = (outcome: Outcome) =>
    hold(...holdArgs(eventKeys(eventOf[outcome]), Date.now(), request(outcome === "gated")));
  for (const outcome of outcomes) await call(outcome); // loads the script; fills the one ticket of `full`
  await prepareFloor(redis, "cost-floor", CAPACITY);
  const best: Record<string, number> = {};
  for (let round = 0; round < rounds; round += 1) {
    for (const outcome of outcomes) {
      const us = await usecPerCall(redis, async () => {
        for (let i = 0; i < calls; i += 1) await call(outcome);
      });
      best[outcome] = Math.min(best[outcome] ?? Infinity, us);
    }
    const us = await usecPerCall(redis, async () => {
      for (let i = 0; i < calls; i += 1) await floorHold(floor, "cost-floor", `f-${round}-${i}`, 1, 600_000);
    });
    best.floor = Math.min(best.floor ?? Infinity, us);
  }
  for (const event of [open, full, gone]) await dropEvent(redis, event.id);
  await dropFloor(redis, "cost-floor");
  const floorUs = best.floor!;
  for (const [name, us] of Object.entries(best))
    console.log(`${name.padEnd(8)} ${us.toFixed(1).padStart(6)} µs/call  ${(us / floorUs).toFixed(2)}× floor`);
  redis.disconnect();
}

await main();
