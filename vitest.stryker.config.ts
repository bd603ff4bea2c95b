import { defineConfig } from "vitest/config";

// The tests Stryker runs against each mutant (`npm run test:mutation`, see MUTATION.md): the
// unit tier and the other test files that need neither Redis nor PostgreSQL, so a mutant
// costs milliseconds and the whole run stays within minutes.
export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts", "test/money.test.ts", "test/scripts.test.ts", "test/secrets.test.ts"],
    // It reads engine/config.ts as text to find every setting and its bounds, and Stryker
    // rewrites that file with its mutants, so the text no longer parses as the test expects.
    exclude: ["test/unit/config.test.ts"],
  },
});
