// The promises of issue 6, as assertions shared by the drain scenarios. Counts and orderings only:
// time bounds are the drain settings plus generous margins (2 shared cores).
import { expect } from "vitest";
import type { DrainRecord } from "../cluster-fixture.js";
import type { DrainSummary } from "./drain-summary.js";
import type { LoadReport } from "./load.js";

export interface DrainSettings {
  delayMs: number;
  windowMs: number;
  reconnectMaxMs: number;
}

/** One drained gateway: exit 0 inside the deadline, every client warned, moved (transport close), spread, reconnected. */
export function expectCleanDrain(rec: DrainRecord, s: DrainSummary, d: DrainSettings, opts: { minClients?: number } = {}): void {
  const deadline = d.delayMs + d.windowMs + 5000;
  expect(rec.exitCode, "exit code").toBe(0);
  expect(s.timings.signalToExitMs, "signal to exit (deadline)").toBeLessThan(deadline);
  expect(rec.downInBalancerAt, "balancer marked the pod down").toBeDefined();
  expect(rec.listenerClosedAt, "listener closed (log)").toBeDefined();
  // The balancer never sent a connection to the closed listener (exact, unlike comparing two clocks
  // read by a busy test process): readiness took the pod out within DRAIN_DELAY_MS.
  expect(rec.balancer, "balancer counters of the pod").toBeDefined();
  expect(rec.balancer!.econ + rec.balancer!.wretr, "balancer connection errors and retries to the drained pod").toBe(0);
  expect(s.drainedDevices, "clients on the drained pod").toBeGreaterThanOrEqual(opts.minClients ?? 1);
  expect(s.drainedDevices, "drained clients = sockets at listener close").toBe(s.socketsAtListenerClose);
  expect(s.reasons, "disconnect reasons (never a server-side disconnect)").toEqual({ "transport close": s.drainedDevices });
  expect(s.warnedFirst, "gateway:draining before the close").toBe(s.drainedDevices);
  expect(s.notReconnected, "clients that never came back").toEqual([]);
  expect(s.gap.max, "max reconnect gap").toBeLessThan(d.reconnectMaxMs + 3000);
  expect(s.lastReconnectAfterListenerCloseMs, "last reconnect after listener close").toBeLessThan(d.windowMs + d.reconnectMaxMs + 3000);
  // Spread, not a spike. The plan (reconnectInMs of each notice) is checked tightly: no tenth of the
  // window holds more than 30 % of the closes. What clients saw is checked loosely, because other
  // processes on 2 shared cores stall the gateway's timers in clumps: at least 40 % of the window
  // between p10 and p90 of the closes, and no tenth holding more than half of them.
  const n = s.drainedDevices;
  expect(Math.max(...s.plannedHistogram), `planned closes ${JSON.stringify(s.plannedHistogram)}`).toBeLessThanOrEqual(Math.max(5, Math.ceil(0.3 * n)));
  expect(s.disconnectSpreadMs, "p10..p90 spread of the closes").toBeGreaterThan(0.4 * d.windowMs);
  expect(Math.max(...s.disconnectHistogram), `observed closes ${JSON.stringify(s.disconnectHistogram)}`).toBeLessThanOrEqual(Math.max(5, Math.ceil(0.5 * n)));
  // Reconnects: no tenth of the window with more than half of them (the overflow bucket, reconnects
  // after the window, only grows when the machine is starved, and is reported, not judged).
  expect(Math.max(...s.reconnectHistogram.slice(0, -1)), `reconnects ${JSON.stringify(s.reconnectHistogram)}`).toBeLessThanOrEqual(
    Math.max(5, Math.ceil(0.5 * n)),
  );
  expect(s.reconnectSpreadMs, "p10..p90 spread of the reconnects").toBeGreaterThan(0.3 * d.windowMs);
}

/** The crowd's view: no connect error, every acknowledged message delivered to every recipient, presence truthful. */
export function expectNoUserVisibleDamage(r: LoadReport): void {
  expect(r.connectErrors, "connect errors").toEqual([]);
  expect(r.sends.acked, "acknowledged sends").toBeGreaterThan(0);
  expect(r.missing.slice(0, 20), `acknowledged messages lost (${r.missing.length})`).toEqual([]);
  expect(r.presence.violations.slice(0, 10), "still-connected users shown offline").toEqual([]);
  expect(r.historyGaps, "history gaps on re-join").toBe(0);
  expect(
    Object.keys(r.disconnectReasons).filter((k) => k !== "transport close"),
    "disconnect reasons",
  ).toEqual([]);
}

/** The balancer took pods out only because they drained: a healthy pod whose /readyz flapped would break sticky sessions. */
export function expectOnlyDrainedPodsWentDown(stateChanges: string[], drains: number): void {
  const downs = stateChanges.filter((l) => /is DOWN, reason: Layer/.test(l));
  expect(downs.length, `balancer DOWN transitions: ${JSON.stringify(downs)}`).toBe(drains);
  expect(
    downs.every((l) => /code: 503/.test(l)),
    "each because /readyz answered 503",
  ).toBe(true);
}
