import { describe, expect, it } from "vitest";
import { compareStreamIds } from "../../engine/eventLog.js";

describe("compareStreamIds", () => {
  it.each([
    ["1-0", "1-0", 0],
    ["1-0", "2-0", -1],
    ["10-0", "9-99", 1],
    ["5-2", "5-10", -1],
    ["5", "5-0", 0],
    // Beyond 2^53: compared exactly, not as doubles.
    ["9007199254740993-0", "9007199254740992-0", 1],
  ])("%s against %s is %i", (a, b, sign) => {
    expect(Math.sign(compareStreamIds(a, b))).toBe(sign);
    expect(Math.sign(compareStreamIds(b, a))).toBe(-sign || 0);
  });
});
