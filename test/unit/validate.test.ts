import { describe, expect, it } from "vitest";
import { hasUnsafeChars } from "../../engine/text.js";
import { Problem } from "../../http/problems.js";
import { Fields, isTimeZone, parseJsonObject } from "../../http/validate.js";

// The request-body reader the routes share: every field's bound, and one 422 listing every
// problem at once, with the field names and reasons the HTTP contract documents.

const UNSAFE = "must not contain control characters or unpaired surrogates";

/** The problems `done()` reports for a body read by `read`, or [] when it accepts it. */
function problemsOf(
  body: Record<string, unknown>,
  read: (fields: Fields) => void,
): { field: string; reason: string }[] {
  const fields = new Fields(body);
  read(fields);
  try {
    fields.done();
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(Problem);
    const problem = error as Problem;
    expect([problem.status, problem.slug]).toEqual([422, "invalid-parameters"]);
    // A 422 always names at least one problem.
    expect(problem.extra.errors).not.toHaveLength(0);
    expect(problem.message).toBe(
      (problem.extra.errors as { field: string; reason: string }[]).map((e) => `${e.field}: ${e.reason}`).join("; "),
    );
    return problem.extra.errors as { field: string; reason: string }[];
  }
}

/** What `read` returns for the body, with the problems it found. */
function readOne<T>(
  body: Record<string, unknown>,
  read: (fields: Fields) => T,
): { value: T; errors: { field: string; reason: string }[] } {
  let value: T | undefined;
  const errors = problemsOf(body, (fields) => {
    value = read(fields);
  });
  return { value: value as T, errors };
}

describe("hasUnsafeChars", () => {
  it.each([
    ["NUL", "a\u0000b", true],
    ["a C0 control", "line\nbreak", true],
    ["DEL", "a\u007fb", true],
    ["a C1 control", "a\u0085b", true],
    ["a lone high surrogate", "a\ud83cb", true],
    ["a lone low surrogate", "a\udfb5b", true],
    ["a paired surrogate", "🎵 Jazz", false],
    ["letters of any script", "Beyoncé 東京", false],
  ])("%s: %s", (_what, text, unsafe) => {
    expect(hasUnsafeChars(text)).toBe(unsafe);
  });
});

describe("parseJsonObject", () => {
  it("returns the object a body holds", () => {
    expect(parseJsonObject(Buffer.from('{"a":1,"b":"é"}'))).toEqual({ a: 1, b: "é" });
  });

  it.each([
    ["", "The body is empty; send a JSON object."],
    ["null", "The body must be a JSON object."],
    ["[1]", "The body must be a JSON object."],
    ["7", "The body must be a JSON object."],
  ])("answers 400 invalid-json to %j", (body, detail) => {
    expect(() => parseJsonObject(Buffer.from(body))).toThrow(
      expect.objectContaining({ status: 400, slug: "invalid-json", message: detail }),
    );
  });

  it("answers 400 invalid-json with the parser's message to what does not parse", () => {
    expect(() => parseJsonObject(Buffer.from("{"))).toThrow(
      expect.objectContaining({ status: 400, slug: "invalid-json", message: expect.stringMatching(/position/) }),
    );
  });
});

describe("Fields", () => {
  const name = (fields: Fields) => fields.string("name", { required: true, maxChars: 5 });

  it("reads a string within its bounds", () => {
    expect(readOne({ name: "Jazz" }, name)).toEqual({ value: "Jazz", errors: [] });
    expect(readOne({ name: "12345" }, name)).toEqual({ value: "12345", errors: [] });
  });

  it.each([
    [{}, "is required"],
    [{ name: null }, "is required"],
    [{ name: 5 }, "must be a string"],
    [{ name: "a\u0000" }, UNSAFE],
    [{ name: "  " }, "must not be blank"],
    [{ name: "123456" }, "must be at most 5 characters"],
  ])("refuses the string in %j: %s", (body, reason) => {
    expect(readOne(body, name)).toEqual({ value: undefined, errors: [{ field: "name", reason }] });
  });

  it("lets an optional field be absent, and holds a string to its pattern", () => {
    const code = (hint?: string) => (fields: Fields) =>
      fields.string("code", { required: false, maxChars: 9, pattern: /^[a-z]+$/, patternHint: hint });
    expect(readOne({}, code())).toEqual({ value: undefined, errors: [] });
    expect(readOne({ code: "abc" }, code())).toEqual({ value: "abc", errors: [] });
    expect(readOne({ code: "ABC" }, code()).errors).toEqual([{ field: "code", reason: "has an invalid format" }]);
    expect(readOne({ code: "ABC" }, code("must be lower case")).errors).toEqual([
      { field: "code", reason: "must be lower case" },
    ]);
  });

  it("reads a whole number within its bounds, both ends included", () => {
    const quantity = (fields: Fields) => fields.integer("quantity", { required: true, min: 1, max: 8 });
    expect(readOne({ quantity: 1 }, quantity)).toEqual({ value: 1, errors: [] });
    expect(readOne({ quantity: 8 }, quantity)).toEqual({ value: 8, errors: [] });
    expect(readOne({}, quantity).errors).toEqual([{ field: "quantity", reason: "is required" }]);
    for (const bad of [0, 9])
      expect(readOne({ quantity: bad }, quantity).errors).toEqual([
        { field: "quantity", reason: "must be from 1 to 8" },
      ]);
    for (const bad of [1.5, "2", 2 ** 53])
      expect(readOne({ quantity: bad }, quantity).errors).toEqual([
        { field: "quantity", reason: "must be a whole number" },
      ]);
  });

  it("reads an instant only with an explicit offset, and only a real one", () => {
    const startsAt = (fields: Fields) => fields.instant("startsAt", { required: true });
    expect(readOne({ startsAt: "2027-05-01T20:00:00+02:00" }, startsAt).value).toEqual(
      new Date("2027-05-01T18:00:00Z"),
    );
    expect(readOne({ startsAt: "2027-05-01T20:00Z" }, startsAt).value).toEqual(new Date("2027-05-01T20:00:00Z"));
    expect(readOne({ startsAt: "2027-05-01T20:00:00.123456789Z" }, startsAt).errors).toEqual([]);
    for (const bad of [
      "2027-05-01T20:00:00",
      "2027-05-01",
      "x2027-05-01T20:00Z",
      "2027-05-01T20:00Zx",
      "2027-05-01T20:00:00.1234567890Z",
    ]) {
      expect(readOne({ startsAt: bad }, startsAt).errors, bad).toEqual([
        { field: "startsAt", reason: "must be an ISO 8601 date-time with an offset, e.g. 2027-05-01T20:00:00+02:00" },
      ]);
    }
    expect(readOne({ startsAt: "2027-02-30T25:00:00Z" }, startsAt).errors).toEqual([
      { field: "startsAt", reason: "is not a real date" },
    ]);
  });

  it("reads a clearable instant as null when sent null, undefined when absent", () => {
    const saleEndsAt = (fields: Fields) => fields.clearableInstant("saleEndsAt");
    expect(readOne({ saleEndsAt: null }, saleEndsAt)).toEqual({ value: null, errors: [] });
    expect(readOne({}, saleEndsAt)).toEqual({ value: undefined, errors: [] });
    expect(readOne({ saleEndsAt: "2027-05-01T20:00:00Z" }, saleEndsAt).value).toEqual(new Date("2027-05-01T20:00:00Z"));
  });

  it("reads an IANA time zone", () => {
    const timeZone = (fields: Fields) => fields.timeZone("timeZone", { required: true });
    expect(isTimeZone("Europe/Paris")).toBe(true);
    expect(isTimeZone("Mars/Olympus")).toBe(false);
    expect(readOne({ timeZone: "Europe/Paris" }, timeZone)).toEqual({ value: "Europe/Paris", errors: [] });
    expect(readOne({ timeZone: "Mars/Olympus" }, timeZone).errors).toEqual([
      { field: "timeZone", reason: "must be an IANA time zone such as Europe/Paris" },
    ]);
    expect(readOne({}, timeZone).errors).toEqual([{ field: "timeZone", reason: "is required" }]);
  });

  it("reads an email address", () => {
    const email = (fields: Fields) => fields.email("email", { required: false, maxChars: 40 });
    expect(readOne({ email: "ana@example.org" }, email)).toEqual({ value: "ana@example.org", errors: [] });
    for (const bad of [
      "ana",
      " ana@example.org",
      "ana@example",
      "ana @example.org",
      "<ana@example.org>",
      "ana@example.org ",
    ]) {
      expect(readOne({ email: bad }, email).errors, bad).toEqual([
        { field: "email", reason: "must be an email address" },
      ]);
    }
  });

  it("reads one of a list of values", () => {
    const status = (fields: Fields) => fields.oneOf("status", ["draft", "on_sale"] as const, { required: false });
    expect(readOne({ status: "on_sale" }, status)).toEqual({ value: "on_sale", errors: [] });
    expect(readOne({}, status)).toEqual({ value: undefined, errors: [] });
    expect(readOne({ status: "sold" }, status).errors).toEqual([
      { field: "status", reason: "must be one of draft, on_sale" },
    ]);
  });

  it("checks text from outside the body and any other condition", () => {
    expect(problemsOf({}, (fields) => fields.text("Idempotency-Key", "ok"))).toEqual([]);
    expect(problemsOf({}, (fields) => fields.text("Idempotency-Key", "a\nb"))).toEqual([
      { field: "Idempotency-Key", reason: UNSAFE },
    ]);
    expect(problemsOf({}, (fields) => fields.check(true, "saleEndsAt", "must be after saleStartsAt"))).toEqual([]);
    expect(problemsOf({}, (fields) => fields.check(false, "saleEndsAt", "must be after saleStartsAt"))).toEqual([
      { field: "saleEndsAt", reason: "must be after saleStartsAt" },
    ]);
  });

  it("lists every problem at once, fields it does not know last", () => {
    const errors = problemsOf({ name: "", quantity: 0, colour: "red" }, (fields) => {
      fields.string("name", { required: true, maxChars: 5 });
      fields.integer("quantity", { required: true, min: 1, max: 8 });
      fields.string("venue", { required: true, maxChars: 5 });
    });
    expect(errors).toEqual([
      { field: "name", reason: "must not be blank" },
      { field: "quantity", reason: "must be from 1 to 8" },
      { field: "venue", reason: "is required" },
      { field: "colour", reason: "is not a known field" },
    ]);
  });
});
