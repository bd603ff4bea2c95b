import { describe, expect, it } from "vitest";
import { UsageError } from "../../bin/commandLine.js";
import { parseOptions } from "../../bench/options.js";
import { DEFAULTS } from "../../bench/setup.js";

// The bench's command line: what it accepts, and that every mistake is refused with a message
// naming the option (the CLI prints it and exits 2) before the run starts anything.

describe("bench options", () => {
  it("reads every kind of option over the defaults", () => {
    expect(parseOptions([])).toEqual(DEFAULTS);
    expect(
      parseOptions([
        "--people",
        "500_000",
        "--tickets=2000",
        "--hold-batch",
        "on",
        "--rivals",
        "--redis-url",
        "redis://127.0.0.1:6415",
        "--database-url",
        "postgres://postgres@127.0.0.1:5432/onsale_bench_h5",
      ]),
    ).toEqual({
      ...DEFAULTS,
      people: 500_000,
      tickets: 2000,
      holdBatch: true,
      rivals: true,
      redisUrl: "redis://127.0.0.1:6415",
      databaseUrl: "postgres://postgres@127.0.0.1:5432/onsale_bench_h5",
    });
    expect(parseOptions(["--help"])).toBe("help");
    expect(parseOptions(["-h", "--people", "5"])).toBe("help");
  });

  it.each([
    [["--bogus"], /Unknown option '--bogus'/],
    [["stray"], /Unexpected argument 'stray'/],
    [["--people"], /--people <value>' argument missing/],
    [["--people", "x"], /--people must be a whole number from 1 to 10000000, got "x"/],
    [["--people", "1e3"], /--people must be a whole number/],
    [["--people", "0"], /--people must be a whole number from 1/],
    [["--seconds", "601"], /--seconds must be a whole number from 1 to 600, got "601"/],
    [["--workers", "2.5"], /--workers must be a whole number/],
    [["--hold-batch", "maybe"], /--hold-batch must be on or off, got "maybe"/],
    [["--redis-url", "http://127.0.0.1:6379"], /--redis-url must be a redis:\/\/ or rediss:\/\/ URL/],
    [["--database-url", "onsale_bench"], /--database-url must be a postgres:\/\/ or postgresql:\/\/ URL/],
    [["--rivals=yes"], /--rivals' does not take an argument/],
  ])("refuses %j", (args, message) => {
    expect(() => parseOptions(args)).toThrow(UsageError);
    expect(() => parseOptions(args)).toThrow(message);
  });
});
