// The long-polling fallback through the balancer: HTTP long-polling needs every request of a session
// on the same pod, so HAProxy inserts a SERVERID cookie (stickiness) and the clients keep cookies.
// A drained pod's polling clients must move like WebSocket ones: the pod's cookie is ignored once the
// balancer marks it DOWN, the new handshake lands on a remaining pod, nothing acknowledged is lost.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startCluster, type Cluster } from "../support/cluster-fixture.js";
import { keepFigures, summarizeDrain } from "../support/system/drain-summary.js";
import { expectOnlyDrainedPodsWentDown } from "../support/system/expectations.js";
import { Load, messageFigures } from "../support/system/load.js";
import { DRAIN as D, DRAIN_ENV, sleep } from "../support/system/settings.js";

const CLIENTS = Number(process.env.E2E_POLLING_CLIENTS ?? 90);

describe("drain with HTTP long-polling clients and cookie stickiness (cluster mode)", () => {
  let cluster: Cluster;
  let load: Load;

  beforeAll(async () => {
    cluster = await startCluster({ env: DRAIN_ENV, haproxy: { cookie: true } });
    load = new Load({
      url: cluster.url,
      users: CLIENTS - 9,
      roomSize: 9,
      runId: `dp${process.pid}`,
      transports: ["polling"],
      withCredentials: true,
      roomSendEveryMs: 2000,
      directSendEveryMs: 4000,
      reconnectionDelayMs: 200,
      reconnectionDelayMaxMs: D.reconnectMaxMs,
    });
    await load.connect();
  }, 120_000);

  afterAll(async () => {
    load?.close();
    await cluster?.stop();
  });

  test("polling clients of the drained pod move to the others; nothing acknowledged lost", async () => {
    load.startTraffic();
    await sleep(2000);
    const rec = await cluster.drainGateway(cluster.gateways[0]!);
    await sleep(1500);
    await load.stopTraffic();
    await load.settle(20_000);
    const s = summarizeDrain(load, rec, D.windowMs);
    const r = load.report();
    keepFigures("cluster-polling-drain", {
      clients: r.devices,
      drain: s,
      messages: messageFigures(r),
      presence: { offlineEvents: r.presence.offlineEvents, violations: r.presence.violations.length },
      connectErrors: r.connectErrors.length,
      balancerStateChanges: cluster.haproxy.stateChanges(),
    });
    // Polling sessions cannot be spread: once the balancer marks the pod DOWN it ignores its cookie, so
    // each client's next poll lands on a pod that does not know the session ("transport error") and the
    // client reconnects there at once, before the listener even closes. What must hold: the drain does
    // not wait for clients that will never poll it again (exit 0 inside the deadline), every client is
    // back, nobody gets a connect error, nothing acknowledged is lost.
    expect(rec.exitCode).toBe(0);
    expect(s.timings.signalToExitMs).toBeLessThan(D.delayMs + D.windowMs + 5000);
    expect(rec.balancer!.econ + rec.balancer!.wretr).toBe(0);
    expect(rec.listenerClosedAt, "listener closed (log)").toBeDefined();
    expect(s.socketsAtListenerClose, "sockets at listener close (log)").toBeDefined();
    expect(s.drainedDevices).toBe(s.socketsAtListenerClose);
    expect(s.drainedDevices).toBeGreaterThanOrEqual(Math.floor(r.devices / 6));
    expect(Object.keys(s.reasons).filter((k) => k !== "transport close" && k !== "transport error")).toEqual([]);
    expect(s.notReconnected).toEqual([]);
    expect(s.gap.max).toBeLessThan(D.reconnectMaxMs + 3000);
    expect(r.connectErrors).toEqual([]);
    expect(r.missing.slice(0, 20), `acknowledged messages lost (${r.missing.length})`).toEqual([]);
    expect(r.presence.violations).toEqual([]);
    expect(load.devices.every((d) => d.socket.io.engine?.transport?.name === "polling")).toBe(true);
    expectOnlyDrainedPodsWentDown(cluster.haproxy.stateChanges(), 1);
  }, 120_000);
});
