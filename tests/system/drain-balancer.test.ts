// SIGTERM one of three gateways behind HAProxy (health-checking /readyz on the ops port, like a
// Kubernetes Service following readiness): the balancer takes the pod out before its listener closes,
// the ops port keeps answering to the end, every client of the pod is warned, has its transport
// closed in spread batches, and reconnects through the balancer to a remaining pod without a
// connect error. Embedded gateways (no Redis): this part of the drain does not depend on cluster mode.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { client, sleep, type Client } from "../support/clients.js";
import { startCluster, type Cluster } from "../support/cluster-fixture.js";
import { metricValue, scrape } from "../support/metrics.js";
import { waitFor } from "../support/redis-harness.js";
import { startTcpProxy } from "../support/tcp-proxy.js";
import { signToken } from "../support/tokens.js";
import { expectSpreadOut, spreadFloors } from "../support/system/expectations.js";
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

    // Late-comers, stock socket.io-clients with the default reconnection (only WebSocket, like the crowd):
    // - `viaBalancer` arrive through the balancer right at the signal (Kubernetes endpoints lag behind
    //   readiness): wherever the balancer sends them, none may end refused;
    // - `direct` certainly reach the draining pod: they come through a stale endpoint (a TCP proxy to the
    //   victim, as a node or DNS that has not caught up would be), are refused at the transport (HTTP 503
    //   DRAINING) and retry on their own; once the endpoint catches up (the proxy retargets to the
    //   balancer) their retries land on another pod.
    const token = await signToken("late-comer");
    const victimFailures0 = metricValue(await scrape(victim!.opsUrl), "socketgate_connection_failures_total", { reason: "draining" }) ?? 0;
    const staleEndpoint = await startTcpProxy(victim!.port);
    let viaBalancer: LateComer[] = [];
    let direct: LateComer[] = [];
    const draining = cluster.drainGateway(victim!, {
      probeOps: true,
      onSignalled: () => {
        viaBalancer = Array.from({ length: 20 }, (_, i) => lateComer(cluster.url, token, `late${i}`));
      },
    });
    // The direct ones start once the victim says it drains (readiness 503), well inside DRAIN_DELAY_MS.
    await waitFor("the victim's readiness to say draining", async () => (await fetch(`${victim!.opsUrl}/readyz`)).status === 503, 5000, 10);
    direct = Array.from({ length: 10 }, (_, i) => lateComer(staleEndpoint.url, token, `direct${i}`));
    // Refused (or, were the pod still admitting, connected to it: the assertions below then fail).
    await waitFor("every direct late-comer refused or connected", async () => direct.every((l) => l.errors.length > 0 || l.socket.connected), 10_000, 20);
    // Each 503 a client saw was counted before it was answered; scraped while the victim still runs.
    const directRefusedBy503 = direct.flatMap((l) => l.errors).filter((e) => /\b503\b/.test(e.detail)).length;
    const victimDrainingRefusals =
      (metricValue(await scrape(victim!.opsUrl), "socketgate_connection_failures_total", { reason: "draining" }) ?? 0) - victimFailures0;
    staleEndpoint.retarget(cluster.haproxy.port);

    const mid = await scrape(victim!.opsUrl);
    expect(metricValue(mid, "socketgate_draining")).toBe(1);
    const readyz = await fetch(`${victim!.opsUrl}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.text()).toMatch(/draining/);
    const lateComers = [...viaBalancer, ...direct];
    await waitFor("every late-comer connected", async () => lateComers.every((l) => l.socket.connected), 20_000, 50);

    const rec = await draining;
    const s = summarizeDrain(load, rec, WINDOW);
    const floors = spreadFloors(rec, s);
    keepFigures("balancer-embedded-single-drain", {
      summary: s,
      victimSessions,
      spreadFloors: floors,
      late: {
        victimDrainingRefusals,
        direct: { count: direct.length, refusedBy503: directRefusedBy503, connectErrors: direct.reduce((n, l) => n + l.errors.length, 0) },
        viaBalancer: {
          count: viaBalancer.length,
          connectErrors: viaBalancer.reduce((n, l) => n + l.errors.length, 0),
          movedOff: viaBalancer.filter((l) => l.movedOff).length,
        },
      },
    });
    // After the victim exited: every late-comer is connected, so to another pod, and never saw a
    // connect_error that socket.io-client would not retry (one with `data`, from a middleware refusal).
    await sleep(1500);
    const lateConnectedAtEnd = lateComers.filter((l) => l.socket.connected).length;
    const finalErrors = lateComers.flatMap((l) => l.errors).filter((e) => e.final);
    await staleEndpoint.close();
    for (const l of lateComers) l.socket.close();

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
    // The late-comer path ran: the victim refused the direct late-comers at the transport (DRAINING,
    // counted before it exited), each saw that refusal, and all of them ended on another pod.
    expect(directRefusedBy503, "HTTP 503 refusals the direct late-comers saw").toBeGreaterThanOrEqual(direct.length);
    expect(victimDrainingRefusals, "the victim's failures{reason=draining}").toBeGreaterThanOrEqual(directRefusedBy503);
    expect(lateConnectedAtEnd, "late-comers connected after the victim exited").toBe(lateComers.length);
    expect(finalErrors, "connect errors socket.io-client does not retry").toEqual([]);
    // Every client of the pod: warned, transport closed (never a server-side disconnect), reconnected.
    // (A late-comer the balancer sent in before SIGTERM took effect was admitted, then moved like them.)
    expect(s.drainedDevices + viaBalancer.filter((l) => l.movedOff).length).toBe(rec.socketsAtListenerClose);
    expect(s.reasons).toEqual({ "transport close": s.drainedDevices });
    expect(s.warnedFirst).toBe(s.drainedDevices);
    expect(s.notReconnected).toEqual([]);
    expect(s.gap.max).toBeLessThan(RECONNECT_MAX + 3000);
    expect(s.lastReconnectAfterListenerCloseMs).toBeLessThan(WINDOW + RECONNECT_MAX + 3000);
    // Spread, not a spike: the plan tightly, what clients saw against derived floors (see expectations.ts).
    expect(Math.max(...s.plannedHistogram)).toBeLessThanOrEqual(Math.max(5, Math.ceil(0.3 * s.drainedDevices)));
    expect(Math.max(...s.reconnectHistogram)).toBeLessThanOrEqual(Math.max(5, Math.ceil(0.5 * s.drainedDevices)));
    expectSpreadOut(rec, s);
    // The crowd saw no connect error at all.
    expect(load.report().connectErrors).toEqual([]);
    // The remaining pods hold everyone now.
    expect(load.devices.every((d) => d.ready)).toBe(true);
  }, 60_000);
});

interface LateComer {
  socket: Client;
  /** Every connect_error: `final` when socket.io-client gave up (a refusal with data), `detail` what it exposed. */
  errors: Array<{ final: boolean; detail: string }>;
  /** Admitted by the victim before it refused new sessions, then moved by its drain. */
  movedOff: boolean;
}

/** A stock socket.io-client with the default reconnection (delay 1 s, up to 5 s, jitter), WebSocket only. */
function lateComer(url: string, token: string, deviceId: string): LateComer {
  const socket = client(url, { token, deviceId }, { reconnection: true, reconnectionDelay: 1000, reconnectionDelayMax: 5000, timeout: 20_000 });
  const l: LateComer = { socket, errors: [], movedOff: false };
  socket.on("connect_error", (e: Error & { data?: unknown; description?: unknown }) => {
    const description = e.description instanceof Object && "message" in e.description ? String(e.description.message) : String(e.description);
    l.errors.push({ final: e.data !== undefined || !socket.active, detail: `${e.message}: ${description}` });
  });
  socket.on("disconnect", (reason) => reason === "transport close" && (l.movedOff = true));
  return l;
}
