import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SeqRanks } from "../../http/waitingLine.js";

// The live channel's line: ranks over arrival sequences must equal a plain sorted set's,
// across word boundaries and growth of the bitset.

describe("SeqRanks", () => {
  it("ranks like a sorted set under random adds and removes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 5000 })), { maxLength: 300 }),
        fc.array(fc.integer({ min: 1, max: 6000 }), { maxLength: 50 }),
        (ops, probes) => {
          const ranks = new SeqRanks();
          const model = new Set<number>();
          for (const [add, seq] of ops) {
            expect(add ? ranks.add(seq) : ranks.delete(seq)).toBe(add ? !model.has(seq) : model.has(seq));
            if (add) model.add(seq);
            else model.delete(seq);
          }
          expect(ranks.size).toBe(model.size);
          for (const seq of [...probes, ...model]) {
            expect(ranks.rankOf(seq)).toBe([...model].filter((member) => member <= seq).length);
            expect(ranks.has(seq)).toBe(model.has(seq));
          }
        },
      ),
    );
  });

  it("refuses a sequence that is not a positive integer", () => {
    const ranks = new SeqRanks();
    for (const seq of [0, -1, 1.5, Number.NaN]) expect(() => ranks.add(seq)).toThrow("invariant");
  });
});
