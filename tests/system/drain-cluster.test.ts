// Issue 6 end to end, cluster mode: real redis-server, three gateways, HAProxy following /readyz,
// a few hundred real socket.io-clients exchanging room and direct messages continuously.
// SIGTERM one gateway under that load: its clients move to the remaining pods within the drain
// window without a connect error, spread out; no acknowledged message is lost; presence never shows
// a still-connected user offline; the process exits 0 inside its deadline.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startCluster, type Cluster } from "../support/cluster-fixture.js";
import { keepFigures, summarizeDrain } from "../support/system/drain-summary.js";
import { expectCleanDrain, expectNoUserVisibleDamage, expectOnlyDrainedPodsWentDown } from "../support/system/expectations.js";
import { messageFigures, type Load } from "../support/system/load.js";
import { standardLoad } from "../support/system/standard-load.js";
import { DRAIN, DRAIN_ENV, sleep } from "../support/system/settings.js";

const D = DRAIN;

describe("SIGTERM one gateway of three under load (cluster mode)", () => {
  let cluster: Cluster;
  let load: Load;

  beforeAll(async () => {
    cluster = await startCluster({ env: DRAIN_ENV });
    const [, a, b] = cluster.gateways;
    // ~10 % of the users have a second device, connected straight to a pod that survives: those users
    // are connected throughout and must never be shown offline.
    load = standardLoad(cluster.url, `dc${process.pid}`, { secondDeviceUrl: (i) => (i % 2 === 0 ? a! : b!).url });
    await load.connect();
  }, 120_000);

  afterAll(async () => {
    load?.close();
    await cluster?.stop();
  });

  test("every client moves, spread out, no connect error, nothing acknowledged lost, presence truthful, exit 0", async () => {
    load.startTraffic();
    await sleep(2000);
    const victim = cluster.gateways[0]!;
    const rec = await cluster.drainGateway(victim, { probeOps: true });
    await sleep(1500);
    await load.stopTraffic();
    await load.settle(20_000);
    const s = summarizeDrain(load, rec, D.windowMs);
    const r = load.report();
    keepFigures("cluster-single-drain", {
      clients: r.devices,
      drain: s,
      messages: messageFigures(r),
      presence: {
        offlineEvents: r.presence.offlineEvents,
        violations: r.presence.violations.length,
        offlineOfMultiDeviceUsers: r.presence.offlineOfMultiDeviceUsers,
        samples: r.presence.samples,
      },
      connectErrors: r.connectErrors.length,
      balancerStateChanges: cluster.haproxy.stateChanges(),
    });

    expectCleanDrain(rec, s, D, { minClients: Math.floor(r.devices / 6) });
    expectNoUserVisibleDamage(r);
    // Users with a device on a surviving pod were connected the whole time.
    expect(r.presence.offlineOfMultiDeviceUsers).toBe(0);
    // /healthz and /metrics answered until the resources closed.
    const beforeClose = rec.probes.filter((p) => p.at < rec.settledAt!);
    expect(beforeClose.filter((p) => p.path !== "/readyz" && p.status !== 200)).toEqual([]);
    expectOnlyDrainedPodsWentDown(cluster.haproxy.stateChanges(), 1);
  }, 120_000);
});
