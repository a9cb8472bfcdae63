// In-flight work outlives the transports: a handler still running when the drain closes its client's
// transport finishes before the gateway closes Redis and exits (stores written, not cut).
import { afterEach, expect, test } from "vitest";
import { client, closeAll, connected } from "../support/clients.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { signToken } from "../support/tokens.js";

const running: GatewayProcess[] = [];
afterEach(async () => {
  closeAll();
  await Promise.allSettled(running.splice(0).map((g) => g.stop()));
});

test("the drain waits for a handler still running after its client's transport closed, then exits 0", async () => {
  const SLOW_MS = 2500;
  const gw = await startGatewayProcess({ env: { SOCKETGATE_TEST_FAULTS: "1", DRAIN_DELAY_MS: "100", DRAIN_WINDOW_MS: "300" } });
  running.push(gw);
  const c = await connected(client(gw.url, { token: await signToken("inflight-user") }));
  c.emit("test:slow", { ms: SLOW_MS }, () => undefined);
  await new Promise((r) => setTimeout(r, 100));
  const signalledAt = Date.now();
  gw.signal("SIGTERM");
  expect(await gw.exited).toBe(0);
  const at = (msg: string) => {
    const line = gw.logs.find((l) => l.msg === msg);
    expect(line, msg).toBeDefined();
    return Date.parse(String(line!.time));
  };
  const closed = at("every client transport closed");
  const settled = at("in-flight handlers finished and presence settled");
  // The transport went within the short window; the handler kept the drain open until it finished.
  expect(closed - signalledAt).toBeLessThan(SLOW_MS - 500);
  expect(settled - signalledAt).toBeGreaterThanOrEqual(SLOW_MS - 200);
  expect(at("drain complete")).toBeGreaterThanOrEqual(settled);
});
