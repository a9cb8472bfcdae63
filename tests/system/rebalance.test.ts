// Issue 15: after scaling 2 -> 4 pods behind a balancer that spreads like a Kubernetes Service
// (round-robin, random), the old pods shed their excess and every pod holds the mean +- 25 % within
// 60 s, while real socket.io-clients following the README's rules keep every acknowledged message,
// never stay disconnected for more than 10 s, and see no user going offline.
import { describe, expect, test } from "vitest";
import { keepFigures } from "../support/system/drain-summary.js";
import { expectNoUserVisibleDamage } from "../support/system/expectations.js";
import { scaleOut, type ScaleOutResult } from "../support/system/rebalance-scenario.js";
import { messageFigures } from "../support/system/load.js";

/** Shorter than the production 10 s to keep the suite short; every number of the contract is unchanged. */
const AFTER_MS = 3000;

function expectRebalanced(r: ScaleOutResult): void {
  expect(r.excess, "excess at scale-out").toBeGreaterThan(150);
  expect(r.convergedMs, `every pod within mean +- 25 % within 60 s: ${JSON.stringify(r.timeline.slice(-3))}`).toBeLessThanOrEqual(60_000);
  expect(r.balancedAtEnd, `counts at the end ${JSON.stringify(r.after)}`).toBe(true);
  expect(r.rebalanceDisconnects, "rebalance disconnects >= the excess").toBeGreaterThanOrEqual(r.excess);
  expect(r.rebalanceDisconnects, "rebalance disconnects <= 2 x the excess").toBeLessThanOrEqual(2 * r.excess);
  // Every shed client was told first (gateway:rebalance) and saw a transport close, so it reconnected on its own.
  expect(r.rebalanceNotices, "gateway:rebalance notices = rebalance disconnects").toBe(r.rebalanceDisconnects);
  expect(r.report.disconnectReasons, "every disconnect a transport close (the client reconnects on its own)").toEqual({
    "transport close": r.rebalanceDisconnects,
  });
  // The room stream ran throughout (one message every 200 ms) and every acknowledged one reached every member (expectNoUserVisibleDamage).
  expect(r.streamAcked, `room stream acknowledged of ${r.streamSent} sent`).toBeGreaterThan(0.9 * r.streamSent);
  expect(r.notReady, "clients not connected and caught up at the end").toEqual([]);
  expect(r.gaps.max, "longest disconnection (ms)").toBeLessThan(10_000);
  expectNoUserVisibleDamage(r.report);
  expect(r.report.presence.offlineOfMultiDeviceUsers, "multi-device users shown offline").toBe(0);
}

describe("rebalancing after scale-out 2 -> 4 pods, 400 clients (cluster mode, HAProxy)", () => {
  for (const balance of ["roundrobin", "random"] as const) {
    test(`balance ${balance}`, async () => {
      const r = await scaleOut({
        from: 2,
        to: 4,
        clients: 400,
        balance,
        afterMs: AFTER_MS,
        withinMs: 60_000,
        holdMs: 5000,
        runId: `rb-${balance}-${process.pid}`,
      });
      const { report, timeline, ...figures } = r;
      keepFigures(`rebalance-2to4-${balance}`, {
        ...figures,
        timeline: timeline.filter((_, i) => i % 2 === 0),
        messages: messageFigures(report),
        disconnectReasons: report.disconnectReasons,
        presence: {
          offlineEvents: report.presence.offlineEvents,
          violations: report.presence.violations.length,
          firstViolations: report.presence.violations.slice(0, 3),
          samples: report.presence.samples.slice(0, 2),
        },
      });
      expectRebalanced(r);
    }, 240_000);
  }
});
