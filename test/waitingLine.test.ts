import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeLogEntry, lastLogId } from "../engine/eventLog.js";
import { lineKey, logKey } from "../engine/keys.js";
import { applyToLine, loadLine } from "../http/waitingLine.js";
import { checkInvariant, useTestEngine } from "./helpers.js";

// The line each HTTP process keeps for the live channel (http/waitingLine.ts) against the real
// line:{E}: loaded in small chunks while people join, leave and are served, then brought up to
// date from the log read at the load's start, every waiting booking's rank is its ZRANK + 1.

const ctx = useTestEngine();

type Op = { kind: "join" } | { kind: "leave"; pick: number } | { kind: "release" };
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant({ kind: "join" as const }), weight: 3 },
  { arbitrary: fc.nat().map((pick) => ({ kind: "leave" as const, pick })), weight: 1 },
  { arbitrary: fc.constant({ kind: "release" as const }), weight: 1 },
);

describe("the live channel's copy of the line", () => {
  it("ranks every waiting booking as ZRANK does, whatever moved during the load", async () => {
    const { engine } = ctx.running;
    const redis = engine.redis;
    let people = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 30 }), fc.array(op, { maxLength: 30 }), async (before, during) => {
        const eventId = await ctx.client.eventId({ capacity: 2 });
        const open: { id: string; token: string; status: string }[] = [];
        const run = async (ops: Op[]) => {
          for (const next of ops) {
            if (next.kind === "join") {
              const b = await engine.hold({
                eventId,
                userId: `line-${people++}`,
                quantity: 1,
                email: "",
                idempotencyKey: "",
              });
              open.push({ id: b.id, token: b.token, status: b.status });
              continue;
            }
            const candidates = open.filter((b) =>
              next.kind === "leave" ? b.status === "waiting" : b.status === "held",
            );
            const chosen =
              next.kind === "leave" ? candidates[next.pick % Math.max(1, candidates.length)] : candidates[0];
            if (chosen === undefined) continue;
            await engine.cancel(chosen.id, chosen.token);
            chosen.status = "cancelled";
            for (const b of open) if (b.status === "waiting") b.status = (await engine.status(b.id, b.token)).status;
          }
        };
        await run(before);
        const fromId = (await lastLogId(redis, eventId)) ?? "0-0";
        // Chunks of two, so the changes below land between the load's reads.
        const [line] = await Promise.all([loadLine(redis, eventId, 2), run(during)]);
        for (const [id, fields] of await redis.xrange(logKey(eventId), `(${fromId}`, "+"))
          applyToLine(line, decodeLogEntry(id, fields));

        const members = await redis.zrange(lineKey(eventId), 0, -1, "WITHSCORES");
        expect(line.size).toBe(members.length / 2);
        for (let i = 0; i < members.length; i += 2) expect(line.rankOf(Number(members[i + 1]))).toBe(i / 2 + 1);
        await checkInvariant(engine, eventId);
      }),
      { numRuns: 25 },
    );
  });
});
