// The SIGTERM promises of SPEC.md seen from outside one real gateway process (cluster mode, a second
// pod as witness): the public listen socket really closes (not just a log line) while the ops port
// keeps answering; the drained user's presence is settled in Redis and spans still queued in the
// exporter are flushed before the process exits 0.
import { connect as tcpConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected } from "../support/clients.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";
import { OtlpReceiver } from "../support/otlp-receiver.js";
import { startRedis, stopAllRedis, type RedisNode } from "../support/redis-harness.js";
import { signToken } from "../support/tokens.js";

/** How a fresh TCP connection to the port ends: accepted, or refused (nothing listens). */
function tcpProbe(port: number): Promise<"accepted" | "refused" | string> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: "127.0.0.1", port });
    s.once("connect", () => (s.destroy(), resolve("accepted")));
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED" ? "refused" : String(e.code)));
  });
}

let redis: RedisNode;
let witness: GatewayProcess;
let gw: GatewayProcess;
const rx = new OtlpReceiver();

beforeAll(async () => {
  redis = await startRedis("drain-contract");
  await rx.start();
  const env = { REDIS_URL: redis.url, PRESENCE_GRACE_MS: "200" };
  witness = await startGatewayProcess({ env });
  // A long exporter delay: spans leave the process only when the drain flushes telemetry.
  gw = await startGatewayProcess({ env: { ...env, DRAIN_DELAY_MS: "300", DRAIN_WINDOW_MS: "3000", ...rx.env({ OTEL_BSP_SCHEDULE_DELAY: "600000" }) } });
}, 60_000);

afterAll(async () => {
  closeAll();
  await gw?.stop();
  await witness?.stop();
  await rx.close();
  await stopAllRedis();
});

describe("drain, from outside the process", () => {
  it("closes the listen socket, settles presence, flushes spans, exits 0", async () => {
    const watcher = await connected(client(witness.url, { token: await signToken("drain-watcher") }));
    expect(await ask(watcher, "room:join", { room: "drain-room" })).toMatchObject({ ok: true });
    const leaving = await connected(client(gw.url, { token: await signToken("drain-leaver") }, { reconnection: false }));
    expect(await ask(leaving, "room:join", { room: "drain-room" })).toMatchObject({ ok: true });
    expect(await ask(watcher, "presence:get", { room: "drain-room" })).toMatchObject({
      users: expect.arrayContaining([expect.objectContaining({ userId: "drain-leaver" })]),
    });
    expect(await tcpProbe(gw.port)).toBe("accepted");

    // Ten more sockets spread their closes over the 3 s window: the drain lasts that long.
    for (let i = 0; i < 10; i++) await connected(client(gw.url, { token: await signToken(`drain-held-${i}`) }, { reconnection: false }));
    gw.signal("SIGTERM");
    await gw.waitForLog((l) => l.msg === "listener closed; closing client transports in batches");
    expect(await tcpProbe(gw.port), "a new TCP connection to the public port").toBe("refused");
    const ops = await scrape(gw.opsUrl);
    expect(metricValue(ops, "socketgate_draining")).toBe(1);
    expect((await fetch(`${gw.opsUrl}/readyz`)).status).toBe(503);

    expect(await gw.exited).toBe(0);
    // Settled in Redis before exit: the other pod no longer lists the drained user.
    const after = await ask<{ ok: boolean; users: Array<{ userId: string }> }>(watcher, "presence:get", { room: "drain-room" });
    expect(after.users.map((u) => u.userId)).not.toContain("drain-leaver");
    // Flushed before exit: the event spans of the drained pod reached the collector (the exporter's own
    // schedule would have waited ten minutes).
    expect(rx.spans.some((s) => s.pid === gw.child.pid && s.name === "event room:join")).toBe(true);
  }, 60_000);
});
