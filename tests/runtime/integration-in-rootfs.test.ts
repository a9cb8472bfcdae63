// Integration suites re-run unchanged with every gateway process started in the production root
// filesystem (Node 24 + the current uWS build, read-only root, uid 1000): the same assertions that
// hold for Node 20 + the legacy build on this host must hold for the image's combination.
import { describe, expect, it } from "vitest";
import { startGatewayProcess } from "../support/gateway-process.js";
import { missingPrerequisite, NODE_MAJOR } from "./production-rootfs.mjs";

const missing = missingPrerequisite();
if (missing) {
  describe(`integration suites in the production root filesystem (SKIPPED: ${missing})`, () => {
    it.skip("needs the runtime tier's prerequisites", () => {});
  });
} else {
  process.env.SOCKETGATE_TEST_RUNTIME = "rootfs";
  describe("the suites below run in the production root filesystem", () => {
    it(`starts their gateways under Node ${NODE_MAJOR} with the current uWS build`, async () => {
      const gw = await startGatewayProcess();
      try {
        const listening = gw.logs.find((l) => l.msg === "socketgate listening")!;
        expect(String(listening.node)).toMatch(new RegExp(`^v${NODE_MAJOR}\\.`));
        expect(listening.uws).toMatchObject({ build: "current", native: true });
      } finally {
        await gw.stop();
      }
    });
  });
  // Suites that start gateways only through tests/support/gateway-process.ts and pass no host files.
  await import("../integration/gateway-core.test.js");
  await import("../integration/backend-api.test.js");
  await import("../integration/metrics.test.js");
}
