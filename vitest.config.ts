import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config";

// One project per tier (tests/<tier>/): `npm run test:<tier>` runs one, `npm test` runs them all,
// tier after tier (sequence.groupOrder), so each tier's wall time is its own and the tier reporter
// can print it. Integration suites start real processes (gateways, redis-server, haproxy,
// prometheus) on free ports; forks keep each file's processes and globals apart, and two workers
// match the 2-core CI box.
const TIERS = ["unit", "contract", "integration", "system", "hardening", "deploy", "runtime"] as const;

// Files that load both cores on their own (hundreds of clients through a balancer, the soak, the
// fuzzers): they run one at a time after the rest of their tier, as the project "<tier>-heavy",
// so their timing-sensitive assertions never share the machine with another heavy file.
// Add a file here when it drives more than ~100 clients or saturates a core for tens of seconds.
const HEAVY: Record<string, string[]> = {
  system: ["tests/system/drain-{balancer,cluster,polling}.test.ts", "tests/system/rolling-restart.test.ts", "tests/system/big-room-cluster.test.ts"],
  hardening: ["tests/hardening/soak.test.ts", "tests/hardening/fuzz-*.test.ts"],
  // The rootfs smoke, the integration suites re-run in the rootfs and tsc against the v20.57 typings.
  runtime: ["tests/runtime/*.test.ts"],
};

export default defineConfig({
  test: {
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default", "./tests/support/tier-reporter.ts"],
    projects: TIERS.flatMap((tier, i): TestProjectInlineConfiguration[] => {
      const heavy = HEAVY[tier] ?? [];
      const light: TestProjectInlineConfiguration = {
        extends: true,
        test: { name: tier, include: [`tests/${tier}/**/*.test.ts`], exclude: heavy, sequence: { groupOrder: 2 * i } },
      };
      if (heavy.length === 0) return [light];
      return [light, { extends: true, test: { name: `${tier}-heavy`, include: heavy, maxWorkers: 1, sequence: { groupOrder: 2 * i + 1 } } }];
    }),
  },
});
