import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { uuidv7 } from "../../engine/ids.js";
import { issueChallenge, leadingZeroBits, readChallenge, solve, solves } from "../../engine/pow.js";

const SECRET = "pow-unit-secret";

describe("leadingZeroBits", () => {
  it.each([
    [[0x80], 0],
    [[0x40], 1],
    [[0x01], 7],
    [[0x00, 0xff], 8],
    [[0x00, 0x00, 0x10], 19],
    [[0x00, 0x00], 16],
  ])("of %j is %i", (bytes, bits) => {
    expect(leadingZeroBits(Buffer.from(bytes))).toBe(bits);
  });
});

describe("challenges", () => {
  const eventId = uuidv7();
  const nowMs = 1_800_000_000_000;
  const ttlMs = 120_000;

  it("read back as issued, for their event, until they expire", () => {
    const issued = issueChallenge(SECRET, eventId, 12, 60_000, nowMs);
    expect(readChallenge(SECRET, issued.challenge, eventId, ttlMs, nowMs + 1000)).toEqual(issued);
    expect(readChallenge(SECRET, issued.challenge, uuidv7(), ttlMs, nowMs + 1000)).toBeNull();
    expect(readChallenge(SECRET, issued.challenge, eventId, ttlMs, nowMs + 60_000)).toBeNull();
  });

  it("are refused when they name an expiry further than ttlMs from their issue (a self-minted year-long one)", () => {
    const longLived = issueChallenge(SECRET, eventId, 12, 365 * 24 * 3600_000, nowMs);
    expect(readChallenge(SECRET, longLived.challenge, eventId, ttlMs, nowMs + 1000)).toBeNull();
    const atTheCap = issueChallenge(SECRET, eventId, 12, ttlMs, nowMs);
    expect(readChallenge(SECRET, atTheCap.challenge, eventId, ttlMs, nowMs + ttlMs - 1)).not.toBeNull();
  });

  it("are refused when signed with another secret or altered", () => {
    const issued = issueChallenge(SECRET, eventId, 12, 60_000, nowMs);
    expect(readChallenge("another-secret", issued.challenge, eventId, ttlMs, nowMs)).toBeNull();
    const easier = issued.challenge.replace(".12.", ".1.");
    expect(readChallenge(SECRET, easier, eventId, ttlMs, nowMs)).toBeNull();
    expect(readChallenge(SECRET, `${issued.challenge}.x`, eventId, ttlMs, nowMs)).toBeNull();
    // A signature cut short is refused, not thrown on.
    expect(readChallenge(SECRET, issued.challenge.slice(0, -1), eventId, ttlMs, nowMs)).toBeNull();
  });

  it("are refused when signed but of another version or with a nonce that is not 32 hex digits", () => {
    const nonce = uuidv7(nowMs).replace(/-/g, "");
    const signed = (version: string, nonceText: string) => {
      const text = `${version}.${eventId}.12.${nowMs + 60_000}.${nonceText}`;
      return `${text}.${createHmac("sha256", SECRET).update(text).digest("base64url")}`;
    };
    expect(readChallenge(SECRET, signed("p1", nonce), eventId, ttlMs, nowMs)).not.toBeNull();
    expect(readChallenge(SECRET, signed("p0", nonce), eventId, ttlMs, nowMs)).toBeNull();
    expect(readChallenge(SECRET, signed("p1", `${nonce}0`), eventId, ttlMs, nowMs)).toBeNull();
    expect(readChallenge(SECRET, signed("p1", `${nonce.slice(0, 12)}x${nonce}`), eventId, ttlMs, nowMs)).toBeNull();
  });

  it("are solved by a solution whose digest starts with the bits asked for", () => {
    const { challenge } = issueChallenge(SECRET, eventId, 8, 60_000, nowMs);
    const solution = solve(challenge, 8);
    expect(solves(challenge, solution, 8)).toBe(true);
    const digest = createHash("sha256").update(`${challenge}:${solution}`).digest();
    expect(digest[0]).toBe(0);
    // Exactly the bits asked for is enough.
    expect(solves(challenge, solution, leadingZeroBits(digest))).toBe(true);
  });

  it("are searched for at most maxTries candidates, from 0 up", () => {
    const { challenge } = issueChallenge(SECRET, eventId, 8, 60_000, nowMs);
    const first = Number(solve(challenge, 8));
    expect(() => solve(challenge, 8, first)).toThrow(`no solution in ${first} tries`);
    expect(solve(challenge, 8, first + 1)).toBe(String(first));
  });
});
