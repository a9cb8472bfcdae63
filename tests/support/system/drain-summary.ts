// Turns one drain (the gateway's record) and the crowd's view of it into figures and checkable facts.
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { DrainRecord } from "../cluster-fixture.js";
import { gapSummary, histogram, percentile, type Load } from "./load.js";

export interface DrainSummary {
  gateway: { port: number; exitCode: number | string };
  socketsAtListenerClose?: number;
  /** Devices that lost their connection while this gateway drained. */
  drainedDevices: number;
  reconnected: number;
  notReconnected: string[];
  /** Drained devices that got `gateway:draining` before their transport closed. */
  warnedFirst: number;
  reasons: Record<string, number>;
  gap: ReturnType<typeof gapSummary>;
  /** Reconnect instants relative to the listener close, in tenths of the drain window (+ overflow). */
  reconnectHistogram: number[];
  disconnectHistogram: number[];
  /** The gateway's plan: `reconnectInMs` of the gateway:draining notices, in tenths of the window. */
  plannedHistogram: number[];
  reconnectSpreadMs: number;
  /** p10..p90 spread of the disconnect instants, ms. */
  disconnectSpreadMs: number;
  /** p10..p90 spread of the gateway's plan (`reconnectInMs` of the notices), ms. */
  plannedSpreadMs: number;
  /** Longest minus shortest disconnect -> reconnect gap of the drained devices, ms. */
  gapRangeMs: number;
  /** Worst event-loop delays measured during the drain (the pod's, this process's): see DrainRecord.lag. */
  lag: DrainRecord["lag"];
  /** The first few [disconnect, reconnect] instants relative to the listener close. */
  earliest: number[][];
  lastReconnectAfterListenerCloseMs: number;
  /** Balancer counters of the pod when it left (econ, wretr: connections it failed to open or retried, e.g. to a closed listener). */
  balancer?: { econ: number; wretr: number; stot: number };
  timings: {
    signalToBalancerDownMs?: number;
    signalToListenerCloseMs?: number;
    listenerCloseToTransportsClosedMs?: number;
    transportsClosedToSettledMs?: number;
    signalToExitMs: number;
  };
}

export function summarizeDrain(load: Load, rec: DrainRecord, windowMs: number): DrainSummary {
  const from = rec.signalledAt;
  const to = rec.exitedAt;
  const drained = load.devices.filter((d) => d.disconnects.some((x) => x.at >= from && x.at <= to));
  const gaps = load.gapsBetween(from, to);
  const reconnectedIds = new Set(gaps.map((g) => g.device));
  const origin = rec.listenerClosedAt ?? from;
  const firstDisconnect = (d: (typeof drained)[number]) => d.disconnects.find((x) => x.at >= from && x.at <= to)!;
  const disconnectTimes = drained.map((d) => firstDisconnect(d).at);
  const reasons: Record<string, number> = {};
  for (const d of drained) reasons[firstDisconnect(d).reason] = (reasons[firstDisconnect(d).reason] ?? 0) + 1;
  const warned = drained.filter((d) => d.drainingNotices.some((n) => n.at >= from && n.at <= firstDisconnect(d).at)).length;
  // The gateway's plan for each drained device: the reconnectInMs of its first notice.
  const planned = drained.flatMap((d) =>
    d.drainingNotices
      .filter((n) => n.at >= from && n.at <= to)
      .slice(0, 1)
      .map((n) => n.reconnectInMs),
  );
  const rel = (a?: number, b?: number) => (a !== undefined && b !== undefined ? b - a : undefined);
  return {
    gateway: { port: rec.gateway.port, exitCode: rec.exitCode },
    socketsAtListenerClose: rec.socketsAtListenerClose,
    drainedDevices: drained.length,
    reconnected: drained.filter((d) => reconnectedIds.has(d.id)).length,
    notReconnected: drained.filter((d) => !reconnectedIds.has(d.id)).map((d) => d.id),
    warnedFirst: warned,
    reasons,
    gap: gapSummary(gaps),
    reconnectHistogram: histogram(
      gaps.map((g) => g.connectAt),
      origin,
      windowMs,
    ),
    disconnectHistogram: histogram(disconnectTimes, origin, windowMs),
    plannedHistogram: histogram(planned, 0, windowMs),
    disconnectSpreadMs: percentile(disconnectTimes, 90) - percentile(disconnectTimes, 10),
    plannedSpreadMs: percentile(planned, 90) - percentile(planned, 10),
    lag: rec.lag,
    gapRangeMs: gaps.length ? Math.max(...gaps.map((g) => g.ms)) - Math.min(...gaps.map((g) => g.ms)) : NaN,
    reconnectSpreadMs:
      percentile(
        gaps.map((g) => g.connectAt),
        90,
      ) -
      percentile(
        gaps.map((g) => g.connectAt),
        10,
      ),
    earliest: gaps
      .map((g) => [g.disconnectAt - origin, g.connectAt - origin])
      .sort((x, y) => x[0]! - y[0]!)
      .slice(0, 8),
    lastReconnectAfterListenerCloseMs: gaps.length ? Math.max(...gaps.map((g) => g.connectAt)) - origin : NaN,
    balancer: rec.balancer ? { econ: rec.balancer.econ, wretr: rec.balancer.wretr, stot: rec.balancer.stot } : undefined,
    timings: {
      signalToBalancerDownMs: rel(from, rec.downInBalancerAt),
      signalToListenerCloseMs: rel(from, rec.listenerClosedAt),
      listenerCloseToTransportsClosedMs: rel(rec.listenerClosedAt, rec.transportsClosedAt),
      transportsClosedToSettledMs: rel(rec.transportsClosedAt, rec.settledAt),
      signalToExitMs: rec.exitedAt - from,
    },
  };
}

/** Keeps the figures of a run (tests/.tmp/e2e-results/<name>.json) and prints them for the log. */
export function keepFigures(name: string, figures: unknown): void {
  const dir = fileURLToPath(new URL("../../.tmp/e2e-results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}${name}.json`, JSON.stringify(figures, null, 2));
  console.log(`[${name}] ${JSON.stringify(figures)}`);
}
