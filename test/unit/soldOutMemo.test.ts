import { describe, expect, it } from "vitest";
import { SoldOutMemo } from "../../engine/soldOutMemo.js";

const EVENT = "event-a";

describe("SoldOutMemo", () => {
  it("refuses the quantity refused and more, for memoMs from when the refused hold was sent", () => {
    const memo = new SoldOutMemo(1000);
    memo.remember(EVENT, 3, 10_000, memo.mark());
    expect(memo.refuses(EVENT, 3, 10_500)).toBe(true);
    expect(memo.refuses(EVENT, 4, 10_999)).toBe(true);
    expect(memo.refuses(EVENT, 2, 10_500)).toBe(false);
    expect(memo.refuses("event-b", 3, 10_500)).toBe(false);
    expect(memo.refuses(EVENT, 3, 11_000)).toBe(false);
  });

  it("keeps the fewest tickets refused; a refusal of more while that holds changes nothing", () => {
    const memo = new SoldOutMemo(1000);
    memo.remember(EVENT, 2, 10_000, memo.mark());
    memo.remember(EVENT, 4, 10_500, memo.mark());
    expect(memo.refuses(EVENT, 2, 10_900)).toBe(true);
    expect(memo.refuses(EVENT, 4, 11_200)).toBe(false);
    memo.remember(EVENT, 1, 10_600, memo.mark());
    expect(memo.refuses(EVENT, 1, 11_500)).toBe(true);
  });

  it("forgets an event changed, and drops a refusal asked before the change", () => {
    const memo = new SoldOutMemo(1000);
    memo.remember(EVENT, 1, 10_000, memo.mark());
    const askedBefore = memo.mark();
    memo.forget(EVENT);
    expect(memo.refuses(EVENT, 1, 10_100)).toBe(false);
    memo.remember(EVENT, 1, 10_100, askedBefore);
    expect(memo.refuses(EVENT, 1, 10_200)).toBe(false);
  });

  it("remembers nothing with SOLD_OUT_MEMO_MS=0", () => {
    const memo = new SoldOutMemo(0);
    memo.remember(EVENT, 1, 10_000, memo.mark());
    expect(memo.refuses(EVENT, 1, 10_000)).toBe(false);
  });
});
