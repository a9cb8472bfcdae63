// Issue 6, rolling restart: like a Deployment rollout (maxSurge 1, maxUnavailable 0), each of the
// three gateways in turn gets a replacement started and marked UP by the balancer, then is drained,
// under continuous room and direct traffic from a few hundred real socket.io-clients. Same promises
// as a single drain, for every step: nobody gets a connect error, nothing acknowledged is lost,
// presence stays truthful, every old process exits 0 inside its deadline.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startCluster, type Cluster, type DrainRecord } from "../support/cluster-fixture.js";
import { metricValue, scrape } from "../support/metrics.js";
import { keepFigures, summarizeDrain, type DrainSummary } from "../support/system/drain-summary.js";
import { expectCleanDrain, expectNoUserVisibleDamage, expectOnlyDrainedPodsWentDown } from "../support/system/expectations.js";
import { gapSummary, messageFigures, type Load } from "../support/system/load.js";
import { standardLoad } from "../support/system/standard-load.js";
import { DRAIN as D, DRAIN_ENV, sleep } from "../support/system/settings.js";

describe("rolling restart of three gateways under load (cluster mode)", () => {
  let cluster: Cluster;
  let load: Load;

  beforeAll(async () => {
    cluster = await startCluster({ env: DRAIN_ENV });
    load = standardLoad(cluster.url, `rr${process.pid}`);
    await load.connect();
  }, 120_000);

  afterAll(async () => {
    load?.close();
    await cluster?.stop();
  });

  test("replace each gateway in turn: every step drains cleanly, users see nothing", async () => {
    load.startTraffic();
    await sleep(2000);
    const steps: Array<{ rec: DrainRecord; s: DrainSummary; replacementUpMs: number }> = [];
    for (const old of [...cluster.gateways]) {
      const t = Date.now();
      await cluster.addGateway();
      const replacementUpMs = Date.now() - t;
      const rec = await cluster.drainGateway(old, { probeOps: true });
      steps.push({ rec, s: summarizeDrain(load, rec, D.windowMs), replacementUpMs });
      await sleep(500);
    }
    await sleep(1000);
    await load.stopTraffic();
    await load.settle(20_000);
    const r = load.report();
    const allGaps = steps.flatMap(({ rec }) => load.gapsBetween(rec.signalledAt, rec.exitedAt));
    keepFigures("cluster-rolling-restart", {
      clients: r.devices,
      steps: steps.map(({ s, replacementUpMs }) => ({ replacementUpMs, ...s })),
      allGaps: gapSummary(allGaps),
      messages: messageFigures(r),
      presence: { offlineEvents: r.presence.offlineEvents, violations: r.presence.violations.length, samples: r.presence.samples },
      connectErrors: r.connectErrors.length,
      balancerStateChanges: cluster.haproxy.stateChanges(),
    });

    expect(steps).toHaveLength(3);
    // Every client started on an original pod, so every one must have been moved (a transport close
    // after the first signal), and the three replacement pods now hold all of them.
    const firstSignal = steps[0]!.rec.signalledAt;
    expect(
      load.devices.filter((d) => !d.disconnects.some((x) => x.at >= firstSignal)).map((d) => d.id),
      "clients never moved",
    ).toEqual([]);
    expect(cluster.gateways.filter((g) => steps.some((x) => x.rec.gateway === g))).toEqual([]);
    const held = async () =>
      (
        await Promise.all(cluster.gateways.map(async (g) => metricValue(await scrape(g.opsUrl), "socketgate_connections", { transport: "websocket" }) ?? 0))
      ).reduce((a, b) => a + b, 0);
    for (const end = Date.now() + 10_000; Date.now() < end && (await held()) !== r.devices;) await sleep(200);
    expect(await held(), "connections held by the replacement pods").toBe(r.devices);
    for (const { rec, s } of steps) expectCleanDrain(rec, s, D, { minClients: Math.floor(r.devices / 6) });
    expectNoUserVisibleDamage(r);
    expectOnlyDrainedPodsWentDown(cluster.haproxy.stateChanges(), 3);
  }, 150_000);
});
