import { defineConfig } from "vitest/config";

// The fault-injection suite (`npm run test:faults`): scenarios that kill and restart
// processes, one file at a time so their timings do not fight over the CPU.
export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: false,
    reporters: ["default", ["json", { outputFile: ".test-results-faults.json" }]],
  },
});
