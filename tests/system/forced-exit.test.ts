// A second signal, or the drain deadline, cuts the drain short: non-zero exit, quickly, with a log
// line saying what was cut. Independent of cluster mode: embedded gateways, no balancer.
import { afterEach, describe, expect, test } from "vitest";
import { client, closeAll, connected } from "../support/clients.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { signToken } from "../support/tokens.js";

const running: GatewayProcess[] = [];
afterEach(async () => {
  closeAll();
  await Promise.allSettled(running.splice(0).map((g) => g.stop()));
});

async function gatewayWithClients(env: Record<string, string>, n: number): Promise<GatewayProcess> {
  const gw = await startGatewayProcess({ env: { DRAIN_DELAY_MS: "300", DRAIN_WINDOW_MS: "20000", ...env } });
  running.push(gw);
  const token = await signToken("forced-user");
  await Promise.all(Array.from({ length: n }, (_, i) => connected(client(gw.url, { token, deviceId: `d${i}` }, { reconnection: false }))));
  return gw;
}

describe("forced shutdown", () => {
  for (const second of ["SIGTERM", "SIGINT"] as const) {
    test(`a ${second} in the middle of a drain exits at once with code 3 and says what it cut`, async () => {
      const gw = await gatewayWithClients({}, 20);
      gw.signal("SIGTERM");
      // Mid-drain: the listener is closed and the 20 s window has barely started.
      await gw.waitForLog((l) => l.msg === "listener closed; closing client transports in batches");
      const sentAt = Date.now();
      gw.signal(second);
      const code = await gw.exited;
      const tookMs = Date.now() - sentAt;
      expect(code).toBe(3);
      // Bounded loosely (shared 2-core machine): the drain would otherwise run for 20 s.
      expect(tookMs).toBeLessThan(3000);
      const line = gw.logs.find((l) => typeof l.msg === "string" && l.msg.startsWith("forced shutdown"));
      expect(line, JSON.stringify(gw.logs.slice(-5))).toBeDefined();
      expect(line!.level).toBe("error");
      expect(line!.why).toBe(`second ${second}`);
      expect(line!.socketsCut).toBeGreaterThan(0);
      expect(line!.msg).toMatch(/cutting \d+ sockets/);
      expect(gw.logs.some((l) => l.msg === "drain complete")).toBe(false);
    });
  }

  test("the drain deadline (DRAIN_TIMEOUT_MS) forces exit code 3 with a log line", async () => {
    const gw = await gatewayWithClients({ DRAIN_TIMEOUT_MS: "1500" }, 10);
    const sentAt = Date.now();
    gw.signal("SIGTERM");
    const code = await gw.exited;
    const tookMs = Date.now() - sentAt;
    expect(code).toBe(3);
    expect(tookMs).toBeGreaterThanOrEqual(1400);
    expect(tookMs).toBeLessThan(6000);
    const line = gw.logs.find((l) => typeof l.msg === "string" && l.msg.startsWith("forced shutdown"));
    expect(line?.why).toBe("drain deadline passed");
    expect(line?.socketsCut).toBeGreaterThan(0);
  });

  test("a drain that fits its deadline exits 0 and logs every step", async () => {
    const gw = await gatewayWithClients({ DRAIN_WINDOW_MS: "600" }, 10);
    gw.signal("SIGTERM");
    expect(await gw.exited).toBe(0);
    const msgs = gw.logs.map((l) => l.msg);
    const steps = [
      "shutdown requested",
      "draining: readiness is now 503",
      "listener closed; closing client transports in batches",
      "every client transport closed",
      "in-flight handlers finished and presence settled",
      "drain complete",
      "exiting 0",
    ];
    const at = steps.map((s) => msgs.indexOf(s));
    expect(
      at.every((i) => i >= 0),
      JSON.stringify(msgs),
    ).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });
});
