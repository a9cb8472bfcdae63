// The promises of issue 6, as assertions shared by the drain scenarios. Counts and orderings only:
// time bounds are the drain settings plus generous margins (2 shared cores), spread floors are derived
// from the plan minus the delays measured during the drain.
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
  // window holds more than 30 % of the closes. What clients saw allows for the clumps that other
  // processes on 2 shared cores cause: the p10..p90 spreads against floors derived from the plan and the
  // measured delays (expectSpreadOut), and no tenth holding more than half of the closes.
  const n = s.drainedDevices;
  expect(Math.max(...s.plannedHistogram), `planned closes ${JSON.stringify(s.plannedHistogram)}`).toBeLessThanOrEqual(Math.max(5, Math.ceil(0.3 * n)));
  expectSpreadOut(rec, s);
  expect(Math.max(...s.disconnectHistogram), `observed closes ${JSON.stringify(s.disconnectHistogram)}`).toBeLessThanOrEqual(Math.max(5, Math.ceil(0.5 * n)));
  // Reconnects: no tenth of the window with more than half of them (the overflow bucket, reconnects
  // after the window, only grows when the machine is starved, and is reported, not judged).
  expect(Math.max(...s.reconnectHistogram.slice(0, -1)), `reconnects ${JSON.stringify(s.reconnectHistogram)}`).toBeLessThanOrEqual(
    Math.max(5, Math.ceil(0.5 * n)),
  );
}

/** Loopback delivery of a close and of a reconnect, and clock reads, on top of the measured delays. */
const SPREAD_SLACK_MS = 150;

/**
 * Lower bounds on the observed p10..p90 spread of the closes and of the reconnects, derived instead of
 * fixed: each close is seen at its planned offset plus a common constant plus at most the delays that
 * were measured (the pod's and this process's worst event-loop delay, see DrainRecord.lag), and a
 * percentile moves by no more than that, so the closes span at least the plan's spread minus those
 * delays; the reconnects also minus the range of the reconnect gaps. On a quiet machine the floor is
 * close to the plan (about 80 % of the window), which a spike of closes cannot reach; a starved machine
 * lowers it by exactly what starved it, so it cannot fail falsely. It never depends on what the gateway
 * says about its own timers: a drain that closes everyone at once shows no lag and fails.
 */
export function spreadFloors(rec: DrainRecord, s: DrainSummary): { closesMs: number; reconnectsMs: number } {
  expect(rec.lag.gatewayMaxMs, "the pod's event-loop delay, scraped while it closed transports").toBeDefined();
  const closesMs = s.plannedSpreadMs - rec.lag.gatewayMaxMs! - rec.lag.observerMaxMs - SPREAD_SLACK_MS;
  return { closesMs, reconnectsMs: closesMs - s.gapRangeMs };
}

/** Spread, not a spike: the observed closes and reconnects span at least their derived floors. */
export function expectSpreadOut(rec: DrainRecord, s: DrainSummary): void {
  const floor = spreadFloors(rec, s);
  const why = `planned spread ${s.plannedSpreadMs} ms, lag ${JSON.stringify(rec.lag)}, gap range ${s.gapRangeMs} ms`;
  expect(s.disconnectSpreadMs, `p10..p90 spread of the closes (${why})`).toBeGreaterThanOrEqual(floor.closesMs);
  expect(s.reconnectSpreadMs, `p10..p90 spread of the reconnects (${why})`).toBeGreaterThanOrEqual(floor.reconnectsMs);
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
