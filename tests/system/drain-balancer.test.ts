// SIGTERM one of three gateways behind HAProxy (health-checking /readyz on the ops port, like a
// Kubernetes Service following readiness): the balancer takes the pod out before its listener closes,
// the ops port keeps answering to the end, every client of the pod is warned, has its transport
// closed in spread batches, and reconnects through the balancer to a remaining pod without a
// connect error. Embedded gateways (no Redis): this part of the drain does not depend on cluster mode.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { client, connected } from "../support/clients.js";
import { startCluster, type Cluster } from "../support/cluster-fixture.js";
import { metricValue, scrape } from "../support/metrics.js";
import { signToken } from "../support/tokens.js";
import { keepFigures, summarizeDrain } from "../support/system/drain-summary.js";
import { Load } from "../support/system/load.js";

const DELAY = 500;
const WINDOW = 3000;
const RECONNECT_MAX = 1000;
const ENV = { DRAIN_DELAY_MS: String(DELAY), DRAIN_WINDOW_MS: String(WINDOW), PRESENCE_GRACE_MS: "1500", MAX_CONNECTIONS: "10000", LOG_LEVEL: "info" };

let cluster: Cluster;
let load: Load;

beforeAll(async () => {
  cluster = await startCluster({ redis: false, env: ENV });
  load = new Load({ url: cluster.url, users: 150, roomSize: 10, runId: `bal${process.pid}`, reconnectionDelayMs: 200, reconnectionDelayMaxMs: RECONNECT_MAX });
  await load.connect();
});

afterAll(async () => {
  load?.close();
  await cluster?.stop();
});

describe("drain behind a readiness-following balancer (embedded gateways)", () => {
  test("SIGTERM: balancer takes the pod out, ops port answers to the end, clients move without errors, spread out", async () => {
    const [victim] = cluster.gateways;
    const stats = await cluster.haproxy.stats();
    const victimSessions = stats.get(cluster.haproxy.slotOf(victim!)!)!.scur;
    expect(victimSessions).toBeGreaterThan(20);

    const token = await signToken("late-comer");
    let lateClients: ReturnType<typeof client>[] = [];
    const lateMoved = new Set<number>();
    const draining = cluster.drainGateway(victim!, {
      probeOps: true,
      // New users keep arriving while the pod drains (K8s endpoints lag behind readiness): none may be refused.
      onSignalled: () => {
        lateClients = Array.from({ length: 20 }, (_, i) => {
          const c = client(cluster.url, { token, deviceId: `late${i}` }, { reconnection: true, reconnectionDelay: 200 });
          c.on("disconnect", (reason) => reason === "transport close" && lateMoved.add(i));
          return c;
        });
      },
    });
    await new Promise((r) => setTimeout(r, 200));
    const mid = await scrape(victim!.opsUrl);
    expect(metricValue(mid, "socketgate_draining")).toBe(1);
    const readyz = await fetch(`${victim!.opsUrl}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.text()).toMatch(/draining/);
    const lateResults = await Promise.allSettled(lateClients.map((c) => connected(c, 10_000)));

    const rec = await draining;
    const s = summarizeDrain(load, rec, WINDOW);
    keepFigures("balancer-embedded-single-drain", {
      summary: s,
      victimSessions,
      lateRefusals: lateResults.filter((r) => r.status === "rejected").length,
      lateMovedOff: lateMoved.size,
    });
    // Late-comers the balancer still sent to the pod were admitted, then moved like everyone else.
    await new Promise((r) => setTimeout(r, 1500));
    const lateConnectedAtEnd = lateClients.filter((c) => c.connected).length;
    for (const c of lateClients) c.close();

    // Exit 0 inside the deadline (delay + window + 5 s by default).
    expect(rec.exitCode).toBe(0);
    expect(s.timings.signalToExitMs).toBeLessThan(DELAY + WINDOW + 5000);
    // The balancer saw readiness flip and took the pod out before the listener closed: it never sent a
    // connection to the closed listener.
    expect(rec.downInBalancerAt).toBeDefined();
    expect(rec.listenerClosedAt).toBeDefined();
    expect(rec.downInBalancerAt!).toBeLessThan(rec.exitedAt);
    expect(rec.balancer!.econ + rec.balancer!.wretr, "connections the balancer sent to the closed listener").toBe(0);
    // /healthz and /metrics answered 200 until resources closed; /readyz said 503 once the signal landed.
    const beforeClose = rec.probes.filter((p) => p.at < rec.settledAt!);
    expect(
      beforeClose.filter((p) => p.path !== "/readyz").every((p) => p.status === 200),
      JSON.stringify(beforeClose.filter((p) => p.status !== 200)),
    ).toBe(true);
    expect(beforeClose.some((p) => p.path === "/metrics" && p.at > rec.transportsClosedAt!)).toBe(true);
    expect(rec.probes.filter((p) => p.path === "/readyz" && p.at > rec.signalledAt + 100).every((p) => p.status === 503 || p.status === "refused")).toBe(true);
    // Every client of the pod: warned, transport closed (never a server-side disconnect), reconnected.
    expect(s.drainedDevices + lateMoved.size).toBe(rec.socketsAtListenerClose);
    expect(lateConnectedAtEnd).toBe(lateClients.length);
    expect(s.reasons).toEqual({ "transport close": s.drainedDevices });
    expect(s.warnedFirst).toBe(s.drainedDevices);
    expect(s.notReconnected).toEqual([]);
    expect(s.gap.max).toBeLessThan(RECONNECT_MAX + 3000);
    expect(s.lastReconnectAfterListenerCloseMs).toBeLessThan(WINDOW + RECONNECT_MAX + 3000);
    // Spread, not a spike: the plan tightly, what clients saw loosely (see expectations.ts).
    expect(Math.max(...s.plannedHistogram)).toBeLessThanOrEqual(Math.max(5, Math.ceil(0.3 * s.drainedDevices)));
    expect(Math.max(...s.reconnectHistogram)).toBeLessThanOrEqual(Math.max(5, Math.ceil(0.5 * s.drainedDevices)));
    expect(s.disconnectSpreadMs).toBeGreaterThan(0.4 * WINDOW);
    // Nobody saw a connect error: not the crowd, not the late-comers.
    expect(load.report().connectErrors).toEqual([]);
    expect(lateResults.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    // The remaining pods hold everyone now.
    expect(load.devices.every((d) => d.ready)).toBe(true);
  }, 60_000);
});
