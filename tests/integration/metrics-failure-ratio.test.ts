// connection_failures_total / connection_attempts_total drives the 1 % alert: every failure counted
// before Socket.IO's handshake (CORS, engine.io refusals, sessions that never CONNECT) is an attempt too.
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sleep } from "../support/clients.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await startGatewayProcess({ env: { CONNECT_TIMEOUT_MS: "1000", CORS_ORIGINS: "https://app.example" } });
});
afterAll(async () => {
  await gw.stop();
});

async function counts(): Promise<{ attempts: number; failures: number; text: string }> {
  const text = await scrape(gw.opsUrl);
  let failures = 0;
  for (const line of text.split("\n")) if (line.startsWith("socketgate_connection_failures_total{")) failures += Number(line.split(" ").pop());
  return { attempts: metricValue(text, "socketgate_connection_attempts_total") ?? 0, failures, text };
}

describe("failure ratio", () => {
  it("counts engine-level refusals and abandoned handshakes as attempts and failures", async () => {
    const before = await counts();
    const cors = await fetch(`${gw.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: "https://evil.example" } });
    expect(cors.status).toBe(403);
    const bad = await fetch(`${gw.url}/socket.io/?EIO=4&transport=nope`);
    expect(bad.status).toBe(400);
    // An Engine.IO session that never sends the Socket.IO CONNECT is closed after CONNECT_TIMEOUT_MS.
    const idle = new WebSocket(`ws://127.0.0.1:${gw.port}/socket.io/?EIO=4&transport=websocket`);
    const closed = new Promise<void>((r) => idle.once("close", () => r()));
    await new Promise((r) => idle.once("message", r));
    await closed;
    await sleep(100);
    const after = await counts();
    expect(metricValue(after.text, "socketgate_connection_failures_total", { reason: "cors" })).toBe(
      (metricValue(before.text, "socketgate_connection_failures_total", { reason: "cors" }) ?? 0) + 1,
    );
    expect(metricValue(after.text, "socketgate_connection_failures_total", { reason: "transport_error" })).toBe(
      (metricValue(before.text, "socketgate_connection_failures_total", { reason: "transport_error" }) ?? 0) + 1,
    );
    expect(metricValue(after.text, "socketgate_connection_failures_total", { reason: "handshake_timeout" })).toBe(
      (metricValue(before.text, "socketgate_connection_failures_total", { reason: "handshake_timeout" }) ?? 0) + 1,
    );
    expect(after.failures - before.failures).toBe(3);
    expect(after.attempts - before.attempts).toBe(3);
    expect(after.failures).toBeLessThanOrEqual(after.attempts);
  });
});
