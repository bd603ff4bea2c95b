import { describe, expect, it } from "vitest";
import { bookingToken, eventIdOfToken, isUuid, newBookingSecret, parseBookingToken, uuidv7 } from "../../engine/ids.js";

describe("uuidv7", () => {
  it("is a version 7, variant 10 UUID carrying its milliseconds", () => {
    const nowMs = Date.UTC(2027, 5, 1, 18, 0, 0, 123);
    const id = uuidv7(nowMs);
    expect(isUuid(id)).toBe(true);
    expect(id[14]).toBe("7");
    expect("89ab").toContain(id[19]);
    expect(parseInt(id.replace(/-/g, "").slice(0, 12), 16)).toBe(nowMs);
  });

  it("sorts by time", () => {
    const ids = [3, 1, 2].map((ms) => uuidv7(1_800_000_000_000 + ms));
    expect([...ids].sort()).toEqual([ids[1], ids[2], ids[0]]);
  });

  it("is different every call within one millisecond", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => uuidv7(1_800_000_000_000)));
    expect(ids.size).toBe(1000);
  });
});

describe("booking tokens", () => {
  const eventId = uuidv7();

  it("carry the event id and a 43-character secret", () => {
    const secret = newBookingSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const token = bookingToken(eventId, secret);
    expect(parseBookingToken(token)).toEqual({ eventId, secret });
    expect(eventIdOfToken(token)).toBe(eventId);
  });

  it.each([
    ["empty", ""],
    ["no dot", `${eventId}${"a".repeat(44)}`],
    ["short secret", `${eventId}.${"a".repeat(42)}`],
    ["long secret", `${eventId}.${"a".repeat(44)}`],
    ["not a uuid", `${"z".repeat(36)}.${"a".repeat(43)}`],
    ["upper-case uuid", `${eventId.toUpperCase()}.${"a".repeat(43)}`],
  ])("refuse a malformed token (%s)", (_, token) => {
    expect(parseBookingToken(token)).toBeNull();
    expect(eventIdOfToken(token)).toBeNull();
  });
});

describe("isUuid", () => {
  it("refuses a UUID with anything before or after it", () => {
    const id = uuidv7();
    expect(isUuid(`x${id}`)).toBe(false);
    expect(isUuid(`${id}x`)).toBe(false);
  });
});

describe("the random pool", () => {
  it("is refilled when spent: secrets stay whole and distinct over several refills", () => {
    // 7,000 secrets of 32 bytes take more than three 64 KiB pools.
    const secrets = Array.from({ length: 7000 }, () => newBookingSecret());
    expect(secrets.every((secret) => secret.length === 43)).toBe(true);
    expect(new Set(secrets).size).toBe(secrets.length);
  });
});
