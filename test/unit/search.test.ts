import { describe, expect, it } from "vitest";
import { searchWords } from "../../search/query.js";

describe("searchWords", () => {
  it.each([
    ["  Jazz   à Paris ", ["Jazz", "à", "Paris"]],
    ["AC/DC — live!", ["AC", "DC", "live"]],
    ["東京 2027", ["東京", "2027"]],
    ["'; DROP TABLE events; --", ["DROP", "TABLE", "events"]],
    ["", []],
    ["!!!", []],
  ])("of %j are %j", (text, words) => {
    expect(searchWords(text)).toEqual(words);
  });

  it("are NFC, so a decomposed accent matches the composed one", () => {
    expect(searchWords("Beyonce\u0301")).toEqual(["Beyoncé"]);
  });
});
