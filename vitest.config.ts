import { defineConfig } from "vitest/config";
import path from "node:path";

export default defineConfig({
  resolve: { alias: { "@": path.resolve(import.meta.dirname) } },
  test: {
    include: ["tests/**/*.test.ts", "tests/**/*.test.tsx"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // 2-core machines: files run in forked processes, a couple at a time
    pool: "forks",
    maxWorkers: 2,
    reporters: ["default"],
    // expect.poll waits for what a page or server shows; a busy machine can take seconds (default 1 s)
    expect: { poll: { timeout: 30_000 } },
  },
});
