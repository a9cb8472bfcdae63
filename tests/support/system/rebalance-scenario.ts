// Scale-out under load, shared by the rebalancing system test and its bench: a cluster of `from` pods
// behind HAProxy with real socket.io-clients and steady traffic, then `to - from` more pods; watches
// every pod's connection count until each holds the mean +- 25 %, and reports what clients saw.
import { startCluster, type Cluster } from "../cluster-fixture.js";
import { metricValue, scrape } from "../metrics.js";
import { gapSummary, Load, type LoadReport } from "./load.js";
import { sleep } from "./settings.js";

export interface ScaleOutOptions {
  from: number;
  to: number;
  clients: number;
  balance: "roundrobin" | "random" | "leastconn";
  /** REBALANCE_AFTER_MS of the pods (shorter than production to keep suites short; the other settings are the defaults). */
  afterMs: number;
  /** How long after the new pods are UP the counts must be within the band. */
  withinMs: number;
  /** Keep watching this long after the band is first reached (shedding that overshoots would show). */
  holdMs: number;
  runId: string;
}

export interface ScaleOutResult {
  options: ScaleOutOptions;
  /** Connections per pod when the new pods were UP in the balancer. */
  before: number[];
  after: number[];
  /** Sum over pods of max(0, connections - mean) when the new pods were UP. */
  excess: number;
  /** From the new pods UP to the first sample with every pod within mean +- 25 % (undefined: never). */
  convergedMs?: number;
  /** Every pod within the band at the end. */
  balancedAtEnd: boolean;
  worstDeviationAtEnd: number;
  rebalanceDisconnects: number;
  rebalanceNotices: number;
  /** Room stream: messages sent (one every 200 ms) and acknowledged. */
  streamSent: number;
  streamAcked: number;
  violationDetails: unknown[];
  /** [ms since the new pods were UP, counts per pod] every ~500 ms. */
  timeline: Array<[number, number[]]>;
  gaps: ReturnType<typeof gapSummary>;
  notReady: string[];
  report: LoadReport;
}

export const BAND = 0.25;

const connectionsOf = async (opsUrl: string): Promise<{ connections: number; rebalanced: number }> => {
  const text = await scrape(opsUrl);
  const connections =
    (metricValue(text, "socketgate_connections", { transport: "websocket" }) ?? 0) +
    (metricValue(text, "socketgate_connections", { transport: "polling" }) ?? 0);
  return { connections, rebalanced: metricValue(text, "socketgate_rebalance_disconnects_total") ?? 0 };
};

const deviation = (counts: number[]): number => {
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  return mean === 0 ? 0 : Math.max(...counts.map((c) => Math.abs(c - mean) / mean));
};

export function rebalanceEnv(afterMs: number): Record<string, string> {
  return {
    DRAIN_DELAY_MS: "500",
    DRAIN_WINDOW_MS: "3000",
    PRESENCE_GRACE_MS: "1500",
    MAX_CONNECTIONS: "20000",
    RATE_LIMIT_EVENTS_PER_S: "200",
    RATE_LIMIT_BURST: "400",
    REBALANCE_AFTER_MS: String(afterMs),
  };
}

/** The client crowd: rooms of 22 users, one user in 11 with a second device, one watcher per room. */
export function scaleOutLoad(url: string, clients: number, runId: string): Load {
  const roomSize = 22;
  const rooms = Math.round(clients / 25);
  const secondDevices = Math.round(clients / 12.5);
  const users = clients - rooms - secondDevices;
  // Light background traffic from everyone; the room stream below is the measured one.
  return new Load({
    url,
    users,
    roomSize,
    secondDevices,
    runId,
    roomSendEveryMs: 20_000,
    directSendEveryMs: 20_000,
    reconnectionDelayMs: 200,
    reconnectionDelayMaxMs: 1000,
    connectConcurrency: 50,
  });
}

/**
 * One member of the first room sends a message every 200 ms for as long as the scenario runs (retrying
 * with the same clientMsgId like a well-written app). Acknowledged ones go into the load's ledger, so
 * the final check covers them: every other member of the room must have each of them.
 */
function startRoomStream(load: Load, everyMs: number): { stop(): Promise<void>; sent: () => number } {
  const sender = load.devices.find((d) => !d.watcher && d.room === load.rooms[0])!;
  let n = 0;
  let stopped = false;
  const inflight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    if (stopped) return;
    const clientMsgId = `${sender.id}:stream:${++n}`;
    const p = sender.send({ room: sender.room, body: { stream: n }, clientMsgId }).then((r) => {
      if (!r.ok) return;
      if (r.seq !== undefined) sender.sawOwn(r.seq);
      load.ledger.set(`stream:${r.id}`, { id: r.id, kind: "room", room: sender.room, sender: sender.id, ackedAt: Date.now() });
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }, everyMs);
  return {
    sent: () => n,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await Promise.all([...inflight]);
    },
  };
}

export async function scaleOut(o: ScaleOutOptions, hooks: { onCluster?: (c: Cluster) => void } = {}): Promise<ScaleOutResult> {
  const cluster = await startCluster({
    gateways: o.from,
    env: rebalanceEnv(o.afterMs),
    haproxy: { balance: o.balance, spareSlots: o.to - o.from },
    startTimeoutMs: 60_000,
  });
  hooks.onCluster?.(cluster);
  const load = scaleOutLoad(cluster.url, o.clients, o.runId);
  let streamSent: number;
  let violationDetails: unknown[];
  try {
    await load.connect(120_000);
    load.startTraffic();
    const stream = startRoomStream(load, 200);
    await sleep(2000);
    const sample = () => Promise.all(cluster.gateways.map((g) => connectionsOf(g.opsUrl)));
    // The excess is what the old pods hold above the new mean at the moment the new pods are added.
    const before = [...(await sample()).map((s) => s.connections), ...Array<number>(o.to - o.from).fill(0)];
    await Promise.all(Array.from({ length: o.to - o.from }, () => cluster.addGateway()));
    const upAt = Date.now();
    const mean0 = before.reduce((a, b) => a + b, 0) / before.length;
    const excess = before.reduce((sum, c) => sum + Math.max(0, c - mean0), 0);
    const timeline: Array<[number, number[]]> = [[0, (await sample()).map((s) => s.connections)]];
    let convergedMs: number | undefined;
    for (;;) {
      await sleep(500);
      const now = Date.now() - upAt;
      const counts = (await sample()).map((s) => s.connections);
      timeline.push([now, counts]);
      if (convergedMs === undefined && deviation(counts) <= BAND) convergedMs = now;
      if (convergedMs !== undefined && now - convergedMs >= o.holdMs) break;
      if (now > o.withinMs + o.holdMs) break;
    }
    await stream.stop();
    streamSent = stream.sent();
    await load.stopTraffic();
    await load.settle(20_000);
    const last = await sample();
    const after = last.map((s) => s.connections);
    const report = load.report();
    // Diagnostics of wrong offline events: the covering device's presence intervals and disconnects, relative to the event.
    violationDetails = report.presence.violations.slice(0, 4).map((v) => {
      const d = load.devices.find((x) => x.id === v.coveringDevice)!;
      return {
        ...v,
        present: d.present.map((p) => [p.from - v.at, p.to === undefined ? null : p.to - v.at]),
        disconnects: d.disconnects.map((x) => x.at - v.at),
        rebalanceNotices: d.rebalanceNotices.map((x) => x.at - v.at),
      };
    });
    return {
      options: o,
      before,
      after,
      excess: Math.round(excess),
      convergedMs,
      balancedAtEnd: deviation(after) <= BAND,
      worstDeviationAtEnd: Math.round(deviation(after) * 1000) / 1000,
      rebalanceDisconnects: last.reduce((sum, s) => sum + s.rebalanced, 0),
      violationDetails,
      streamAcked: [...load.ledger.keys()].filter((k) => k.startsWith("stream:")).length,
      streamSent,
      rebalanceNotices: load.devices.reduce((sum, d) => sum + d.rebalanceNotices.length, 0),
      timeline,
      gaps: gapSummary(load.gapsBetween(upAt - 60_000, Date.now())),
      notReady: load.devices.filter((d) => !d.ready).map((d) => d.id),
      report,
    };
  } finally {
    load.close();
    await cluster.stop();
  }
}
