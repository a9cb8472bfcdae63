// A client that stops reading while its room gets a firehose is cut (and counted) instead of
// having uWS drop its messages silently; the other members get everything.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, sleep, type Client } from "../support/clients.js";
import { startGatewayProcess, TEST_API_KEY, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";
import { waitFor } from "../support/redis-harness.js";
import { signToken } from "../support/tokens.js";

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await startGatewayProcess({ env: { SLOW_CONSUMER_BUFFER_BYTES: "65536", SLOW_CONSUMER_GRACE_MS: "300", MAX_PAYLOAD_BYTES: "262144" } });
});
afterAll(async () => {
  closeAll();
  await gw.stop();
});

/**
 * A real socket.io-client member whose TCP reading we stop, like a phone on a dead network:
 * the gateway's send buffer for it grows while the other members keep reading.
 */
async function stalledMember(room: string): Promise<{ socket: Client; stall(): void }> {
  const socket = await connected(client(gw.url, { token: await signToken("stalled") }));
  expect(await ask(socket, "room:join", { room })).toMatchObject({ ok: true });
  const transport = socket.io.engine.transport as unknown as { ws?: { _socket?: { pause(): void } } };
  const tcp = transport.ws?._socket;
  if (!tcp) throw new Error("socket.io-client's WebSocket transport no longer exposes its TCP socket");
  return { socket, stall: () => tcp.pause() };
}

describe("slow consumers", () => {
  it("cuts a member that stops reading, counts it, and keeps delivering to the others", async () => {
    const before = metricValue(await scrape(gw.opsUrl), "socketgate_slow_consumer_disconnects_total") ?? 0;
    const healthy = await connected(client(gw.url, { token: await signToken("healthy") }));
    await ask(healthy, "room:join", { room: "firehose" });
    let received = 0;
    healthy.on("message", () => received++);
    const slow = await stalledMember("firehose");
    slow.stall();

    // 400 x 40 KB = 16 MB: far more than the loopback socket buffers absorb, at a steady 2 MB/s.
    const body = "y".repeat(40_000);
    for (let i = 0; i < 400; i++) {
      await sleep(20);
      const res = await fetch(`${gw.url}/v1/publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ room: "firehose", event: "message", data: body }),
        signal: AbortSignal.timeout(10_000),
      });
      expect(res.status).toBe(200);
    }
    await waitFor(
      "the stalled member cut",
      async () => (metricValue(await scrape(gw.opsUrl), "socketgate_slow_consumer_disconnects_total") ?? 0) > before,
      15_000,
      100,
    );
    // The watcher's cut (over the limit past the grace, or at the urgent mark), never an uncounted close.
    const cut = await gw.waitForLog((l) => l.msg === "slow consumer cut");
    expect(cut.level).toBe("warn");
    expect(Number(cut.bufferedBytes)).toBeGreaterThanOrEqual(65536);
    await gw.waitForLog((l) => l.msg === "disconnected" && l.userId === "stalled" && l.closedBy === "slow_consumer");
    expect(metricValue(await scrape(gw.opsUrl), "socketgate_slow_consumer_disconnects_total")).toBe(before + 1);
    await waitFor("every message at the healthy member", async () => received === 400, 15_000, 100);
    expect(healthy.connected).toBe(true);
  }, 60_000);
});
