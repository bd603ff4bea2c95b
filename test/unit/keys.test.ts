import { describe, expect, it } from "vitest";
import { uuidv7 } from "../../engine/ids.js";
import {
  bookingKey,
  eventKey,
  eventKeys,
  holdsKey,
  ipBookingsKey,
  lineKey,
  logKey,
  rateIpKey,
} from "../../engine/keys.js";

describe("keys", () => {
  it("of one event all carry its hash tag, so they share a Redis Cluster slot", () => {
    const eventId = uuidv7();
    const keys = [
      ...eventKeys(eventId),
      eventKey(eventId),
      logKey(eventId),
      lineKey(eventId),
      holdsKey(eventId),
      bookingKey(eventId, uuidv7()),
    ];
    for (const key of keys) expect(key.match(/\{[^}]*\}/)?.[0]).toBe(`{${eventId}}`);
  });

  it("built one by one are those the scripts receive", () => {
    const eventId = uuidv7();
    const keys = eventKeys(eventId);
    for (const key of [eventKey(eventId), logKey(eventId), lineKey(eventId), holdsKey(eventId)])
      expect(keys).toContain(key);
    const bookingId = uuidv7();
    expect(keys.some((prefix) => prefix.endsWith(":") && bookingKey(eventId, bookingId) === prefix + bookingId)).toBe(
      true,
    );
  });

  it("of a client IP extend the rate prefix the scripts receive, as lua/includes/gate.lua builds them", () => {
    const eventId = uuidv7();
    const ratePrefix = eventKeys(eventId).find((key) => key.startsWith("rate:"));
    expect(rateIpKey(eventId, "10.0.0.1")).toBe(`${ratePrefix}ip:10.0.0.1`);
    expect(ipBookingsKey(eventId, "10.0.0.1")).toBe(`${ratePrefix}made:10.0.0.1`);
  });
});
