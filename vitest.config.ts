import { defineConfig } from "vitest/config";

// Integration suites start real processes (gateways, redis-server, haproxy, prometheus) on free
// ports; forks keep each file's processes and globals apart, and two workers match the 2-core CI box.
export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    exclude: ["tests/bench/**", "node_modules/**"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
