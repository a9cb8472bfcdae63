// The SIGTERM promises of SPEC.md seen from outside one real gateway process (cluster mode, a second
// pod as witness): the public listen socket really closes (not just a log line) while the ops port
// keeps answering; the drained user's presence is settled in Redis and spans still queued in the
// exporter are flushed before the process exits 0. And what a socket.io-client that reaches a draining
// gateway sees: a transport-level DRAINING refusal it can read and that it retries on its own.
import { connect as tcpConnect } from "node:net";
import { io } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected } from "../support/clients.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";
import { OtlpReceiver } from "../support/otlp-receiver.js";
import { startRedis, stopAllRedis, waitFor, type RedisNode } from "../support/redis-harness.js";
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

/** What socket.io-client exposes of a transport-level refusal (engine.io-client's TransportError). */
type TransportRefusal = Error & {
  type?: string;
  data?: unknown;
  description?: unknown;
  context?: { status?: number; responseText?: string };
};

interface Refusal {
  message: string;
  type?: string;
  hasData: boolean;
  description: string;
  status?: number;
  body: string;
}

function readRefusal(e: TransportRefusal): Refusal {
  const d = e.description;
  return {
    message: e.message,
    type: e.type,
    hasData: e.data !== undefined,
    description: d instanceof Object && "message" in d ? String(d.message) : String(d),
    status: e.context?.status,
    body: e.context?.responseText ?? "",
  };
}

describe("a client that reaches a draining gateway", () => {
  it("gets a connect_error an application can read DRAINING from, and socket.io-client keeps retrying", async () => {
    // A long DRAIN_DELAY_MS: the listener stays open, so every attempt meets the draining refusal.
    const draining = await startGatewayProcess({ env: { DRAIN_DELAY_MS: "4000", DRAIN_WINDOW_MS: "100" } });
    try {
      draining.signal("SIGTERM");
      await draining.waitForLog((l) => l.msg === "draining: readiness is now 503");
      const token = await signToken("drain-late");
      // socket.io-client with its defaults: long-polling first, reconnection on (1 s delay, jitter).
      const polling = io(draining.url, { auth: { token }, forceNew: true });
      const websocket = io(draining.url, { auth: { token }, forceNew: true, transports: ["websocket"] });
      // Read inside the handler: engine.io-client aborts the request right after, which empties responseText.
      const seen = { polling: [] as Refusal[], websocket: [] as Refusal[] };
      polling.on("connect_error", (e: TransportRefusal) => seen.polling.push(readRefusal(e)));
      websocket.on("connect_error", (e: TransportRefusal) => seen.websocket.push(readRefusal(e)));
      try {
        // Two refusals each: the first attempt and at least one retry of the client's own backoff.
        // (Were the pod still admitting, they would connect instead: checked right after.)
        const settledOn = (s: typeof polling, errors: Refusal[]) => errors.length >= 2 || s.connected;
        await waitFor("two refusals per client", async () => settledOn(polling, seen.polling) && settledOn(websocket, seen.websocket), 15_000);
        expect({ polling: polling.connected, websocket: websocket.connected }, "admitted by a draining gateway").toEqual({ polling: false, websocket: false });
        // Still retrying: a middleware refusal (connect_error with `data`) would have stopped it.
        expect(polling.active && websocket.active, "socket.io-client still reconnecting").toBe(true);
        for (const e of [...seen.polling, ...seen.websocket]) expect(e.hasData, "a refusal with data is final for socket.io-client").toBe(false);
        // Polling (the default first transport): the HTTP status and our body, with the stable code.
        for (const e of seen.polling) {
          expect(e).toMatchObject({ message: "xhr poll error", type: "TransportError", description: "503", status: 503 });
          expect(JSON.parse(e.body)).toMatchObject({ code: "DRAINING", message: expect.stringContaining("draining") });
        }
        // WebSocket only: just the status, through the error of Node's `ws` (a browser's WebSocket exposes nothing).
        for (const e of seen.websocket) {
          expect(e).toMatchObject({ message: "websocket error", type: "TransportError", body: "" });
          expect(e.description).toMatch(/Unexpected server response: 503/);
        }
        // The gateway counted every one of them as a draining refusal.
        const refusals = metricValue(await scrape(draining.opsUrl), "socketgate_connection_failures_total", { reason: "draining" });
        expect(refusals).toBeGreaterThanOrEqual(seen.polling.length + seen.websocket.length);
      } finally {
        polling.close();
        websocket.close();
      }
      expect(await draining.exited).toBe(0);
    } finally {
      await draining.stop();
    }
  }, 60_000);
});
