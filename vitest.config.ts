import { defineConfig } from "vitest/config";

// One project per tier (tests/<tier>/): `npm run test:<tier>` runs one, `npm test` runs them all.
// Integration suites start real processes (gateways, redis-server, haproxy, prometheus) on free
// ports; forks keep each file's processes and globals apart, and two workers match the 2-core CI box.
const TIERS = ["unit", "contract", "integration", "system", "hardening", "deploy"] as const;

export default defineConfig({
  test: {
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default"],
    projects: TIERS.map((tier) => ({
      extends: true,
      test: { name: tier, include: [`tests/${tier}/**/*.test.ts`] },
    })),
  },
});
