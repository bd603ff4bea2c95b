// Mutation testing of the pure modules (`npm run test:mutation`, see MUTATION.md). Each mutant
// is run against the Redis- and PostgreSQL-free tests of vitest.stryker.config.ts; the Lua
// scripts have their own mutation runner (`npm run test:lua-mutants`).
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.stryker.config.ts", related: false },
  mutate: [
    "engine/commands.ts",
    "engine/eventLog.ts",
    "engine/ids.ts",
    "engine/keys.ts",
    "engine/money.ts",
    "engine/pow.ts",
    "engine/text.ts",
    "http/validate.ts",
    "search/query.ts",
  ],
  coverageAnalysis: "perTest",
  // Two cores: one test process each at most.
  concurrency: 2,
  timeoutMS: 10_000,
  reporters: ["clear-text", "html", "json", "progress"],
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  thresholds: { high: 90, low: 75, break: null },
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
};
