import { defineConfig } from "vitest/config";

// Two tiers, run in order by `npm test`: unit tests of pure functions (no Redis, no
// PostgreSQL, seconds), then the integration tests against real services. One results file
// covers both.
export default defineConfig({
  test: {
    reporters: ["default", ["json", { outputFile: ".test-results.json" }]],
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          // The fault-injection scenarios have their own run (vitest.faults.config.ts).
          exclude: ["test/unit/**", "test/faults/**", "**/node_modules/**"],
          globalSetup: ["test/globalSetup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          pool: "forks",
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
