import { describe, expect, it } from "vitest";
import { formatMoney, minorDigits } from "../engine/money.js";

// Amounts are minor units by the currency's ISO 4217 exponent; one function formats them for
// the booking page, the emails and the mock gateway.

describe("money", () => {
  it("knows each currency's ISO 4217 exponent, where Intl's CLDR data differs too", () => {
    expect(minorDigits("jpy")).toBe(0);
    expect(minorDigits("KRW")).toBe(0);
    expect(minorDigits("eur")).toBe(2);
    expect(minorDigits("kwd")).toBe(3);
    expect(minorDigits("clf")).toBe(4);
    // CLDR shows these without decimals; ISO 4217 has minor units.
    expect(minorDigits("idr")).toBe(2);
    expect(minorDigits("huf")).toBe(2);
    expect(minorDigits("iqd")).toBe(3);
  });

  it("formats minor units with the currency's own digits", () => {
    expect(formatMoney(1999, "jpy")).toBe("¥1,999");
    expect(formatMoney(1999, "eur")).toBe("€19.99");
    expect(formatMoney(5000, "EUR")).toBe("€50.00");
    expect(formatMoney(1234, "kwd")).toBe("KWD\u00a01.234");
    expect(formatMoney(150000, "idr")).toBe("IDR\u00a01,500.00");
    expect(formatMoney(0, "usd")).toBe("$0.00");
  });

  it("refuses what is not an amount in minor units", () => {
    expect(() => formatMoney(19.99, "eur")).toThrow(/minor units/);
    expect(() => formatMoney(100, "euro")).toThrow(/ISO 4217/);
  });
});
