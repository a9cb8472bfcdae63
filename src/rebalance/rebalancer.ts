// The rebalancing loop of one pod: publishes its load, reads the fleet's, and sheds what decide() says,
// the way the drain moves clients (notice, then a transport close so socket.io-client reconnects
// through the Service; never socket.disconnect(), which stops reconnection). Readiness is untouched.
import { FLEET_LOAD_PUBLISH_EVERY_MS, type FleetLoad, type PodLoad } from "../cluster/fleet-load.js";
import type { Logger } from "../ops/logger.js";
import type { GatewayMetrics } from "../ops/metrics.js";
import type { GatewayServer, GatewaySocket } from "../protocol/session.js";
import { decide, initialState, type DecisionReason, type DecisionState, type RebalanceSettings } from "./decision.js";
import { pickSockets, remember, type ShedCandidate, type ShedMemory } from "./pick.js";

/** Decisions are taken this often; the sheds of one tick are spread over the next tick. */
export const TICK_MS = 250;
/** `reconnectInMs` of the notice: the transport closes about this long after it (within one tick). */
const NOTICE_MS = TICK_MS;
/** A socket that became busy after it was picked gets this long to finish its handlers before its close. */
const BUSY_WAIT_MS = 5000;
/** The fleet total's recent peak is taken over this window: clients missing longer than this are gone, not in flight. */
const IN_FLIGHT_WINDOW_MS = 15_000;

export interface RebalancerDeps {
  podId: string;
  io: GatewayServer;
  fleet: FleetLoad;
  settings: RebalanceSettings;
  /** False: publish only (the fleet mean stays right while some pods have REBALANCE=0), never shed. */
  enabled: boolean;
  /** Takes part in the fleet mean (started, not draining, shared store reachable). */
  eligible(): boolean;
  /** Handlers of one socket still running. */
  inflightOf(socket: GatewaySocket): number;
  presenceGraceMs: number;
  metrics: GatewayMetrics;
  logger: Logger;
  now?: () => number;
}

export class Rebalancer {
  private state: DecisionState = initialState();
  private fleetView: PodLoad[] | undefined;
  private lastPublishAt = 0;
  private exchanging: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastReason: DecisionReason | undefined;
  /** [time, fleet total] of each fleet view, for the in-flight estimate. */
  private readonly totals: Array<[number, number]> = [];
  private readonly memory: ShedMemory = { devices: new Map(), users: new Map() };
  private readonly pendingCloses = new Set<NodeJS.Timeout>();
  private readonly log: Logger;
  private readonly now: () => number;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  /** Since when the pod is ready without a break, when a probe first saw it ready, whether a client reached it since (see eligibleNow). */
  private readySince: number | undefined;
  private probedReadyAt: number | undefined;
  private routedSinceReady = false;
  private readonly onConnection = () => {
    if (this.readySince !== undefined) this.routedSinceReady = true;
  };

  constructor(private readonly d: RebalancerDeps) {
    this.log = d.logger.child({ component: "rebalance" });
    this.now = d.now ?? Date.now;
  }

  /**
   * A shed device that comes back is left alone this long (a few decision stretches): landing back never
   * loops, and the pod sheds other sockets meanwhile. Not much longer: with an even Service a quarter of
   * a hot pod's sheds land back on it, and it must still find enough sockets to shed.
   */
  private get landedBackCooldownMs(): number {
    return Math.max(5000, 3 * this.d.settings.afterMs);
  }

  /** Long enough for a shed device to reconnect before another device of its user goes. */
  private get userCooldownMs(): number {
    return Math.max(5000, 2 * this.d.presenceGraceMs);
  }

  start(): void {
    if (this.timer) return;
    this.log.info(
      { enabled: this.d.enabled, ...this.d.settings, podId: this.d.podId },
      this.d.enabled ? "rebalancing on" : "rebalancing off (REBALANCE=0): publishing load only",
    );
    this.d.io.on("connection", this.onConnection);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    this.tick();
  }

  /** Stops deciding and shedding; removes this pod from the fleet view so the others' mean drops it at once. */
  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      this.stopped = true;
      clearInterval(this.timer);
      this.d.io.off("connection", this.onConnection);
      for (const t of this.pendingCloses) clearTimeout(t);
      this.pendingCloses.clear();
      // A publish already on its way would otherwise re-add this pod after the removal.
      await this.exchanging;
      await this.d.fleet.remove(this.d.podId).catch(() => undefined);
    })());
  }

  private selfLoad(): PodLoad {
    return { podId: this.d.podId, connections: this.d.io.of("/").sockets.size, eligible: this.eligibleNow(), shedding: this.state.shedding };
  }

  /** The ops server answered /readyz with 200: the kubelet (or a balancer's health check) now sees this pod ready. */
  readinessServed(): void {
    if (this.readySince !== undefined) this.probedReadyAt ??= this.now();
  }

  /**
   * A pod anchors the fleet mean only once the Service sends it clients: its own readiness is not enough
   * (the probe has to see it, the balancer needs a few probes, endpoints take a moment to update), and
   * counting a pod nobody can reach yet makes the others shed clients that can only land back on them.
   * Proof is a client arriving after readiness; without one (a fleet where nobody reconnects), `afterMs`
   * after the first /readyz probe answered 200 (3 x afterMs of readiness where nothing probes at all).
   */
  private eligibleNow(): boolean {
    const now = this.now();
    if (!this.d.eligible()) {
      this.readySince = undefined;
      this.probedReadyAt = undefined;
      this.routedSinceReady = false;
      return false;
    }
    this.readySince ??= now;
    if (this.routedSinceReady) return true;
    const { afterMs } = this.d.settings;
    return this.probedReadyAt !== undefined ? now - this.probedReadyAt >= afterMs : now - this.readySince >= 3 * afterMs;
  }

  private tick(): void {
    if (this.stopped) return;
    const now = this.now();
    if (now - this.lastPublishAt >= FLEET_LOAD_PUBLISH_EVERY_MS && !this.exchanging) {
      this.lastPublishAt = now;
      this.exchanging = this.exchange().finally(() => (this.exchanging = undefined));
    }
    if (!this.d.enabled) return;
    const self = this.selfLoad();
    if (!this.fleetView) {
      // No fresh view of the fleet (store unreachable): decide nothing rather than decide on old data.
      this.state = initialState();
      return this.note("no_fleet", self);
    }
    const decision = decide({ now, self, fleet: this.fleetView, settings: this.d.settings, state: this.state, inFlight: this.inFlight(self) });
    this.state = decision.state;
    this.note(decision.reason, self, decision.mean, decision.target);
    if (decision.shed > 0) this.shed(decision.shed, now);
  }

  /** Publishes this pod's load and refreshes the fleet view (one round trip each, once per publish interval). */
  private async exchange(): Promise<void> {
    try {
      await this.d.fleet.publish(this.selfLoad());
      this.fleetView = await this.d.fleet.list();
      const now = this.now();
      this.totals.push([now, this.fleetView.reduce((sum, p) => sum + p.connections, 0)]);
      while (this.totals.length > 0 && now - this.totals[0]![0] > IN_FLIGHT_WINDOW_MS) this.totals.shift();
    } catch (err) {
      if (this.fleetView) this.log.warn({ err }, "fleet load unavailable: rebalancing paused");
      this.fleetView = undefined;
    }
  }

  /** Clients the fleet had lately and does not have now: mostly shed ones still reconnecting. */
  private inFlight(self: PodLoad): number {
    if (!this.fleetView || this.totals.length === 0) return 0;
    const peak = Math.max(...this.totals.map(([, total]) => total));
    // This pod's exact count instead of its published one: its own sheds count at once.
    const current = this.fleetView.reduce((sum, p) => sum + (p.podId === self.podId ? 0 : p.connections), 0) + self.connections;
    return Math.max(0, peak - current);
  }

  /** Logs transitions only (a line per tick would be noise). */
  private note(reason: DecisionReason, self: PodLoad, mean?: number, target?: number): void {
    if (reason === this.lastReason) return;
    const fields = {
      connections: self.connections,
      mean: mean === undefined ? undefined : Math.round(mean * 10) / 10,
      target: target === undefined ? undefined : Math.ceil(target),
      pods: this.fleetView?.length,
    };
    if (reason === "shedding") this.log.info(fields, "rebalance: over the fleet mean for long enough, shedding connections");
    else if (this.lastReason === "shedding") this.log.info({ ...fields, reason }, "rebalance: shedding stopped");
    this.lastReason = reason;
  }

  private shed(count: number, now: number): void {
    const candidates: ShedCandidate[] = [];
    const byId = new Map<string, GatewaySocket>();
    for (const socket of this.d.io.of("/").sockets.values()) {
      const session = socket.data;
      if (!session?.identity || session.closing) continue;
      byId.set(socket.id, socket);
      candidates.push({
        id: socket.id,
        userId: session.identity.userId,
        deviceId: session.deviceId,
        connectedAt: socket.handshake.issued,
        inflight: this.d.inflightOf(socket),
      });
    }
    const picked = pickSockets(candidates, count, this.memory, { now, landedBackCooldownMs: this.landedBackCooldownMs, userCooldownMs: this.userCooldownMs });
    remember(this.memory, picked, now, Math.max(this.landedBackCooldownMs, this.userCooldownMs));
    for (const c of picked) byId.get(c.id)!.data.closing = "rebalance";
    void this.claimAndClose(
      picked.map((c) => byId.get(c.id)!),
      now,
    );
  }

  /**
   * Moves only the sockets whose user this pod could claim fleet-wide (another pod may be moving one of
   * the user's other devices right now), spreading this tick's closes over the tick so the Service sees
   * a trickle, not bursts every 250 ms.
   */
  private async claimAndClose(sockets: GatewaySocket[], now: number): Promise<void> {
    const claimed = await Promise.all(sockets.map((s) => this.d.fleet.claimUser(s.data.identity.userId, this.userCooldownMs).catch(() => false)));
    const moving = sockets.filter((s, i) => {
      if (claimed[i] && !this.stopped) return true;
      s.data.closing = undefined;
      return false;
    });
    moving.forEach((socket, i) => {
      if (!socket.connected) return;
      const delay = Math.round(((i + Math.random()) * TICK_MS) / moving.length);
      socket.emit("gateway:rebalance", { reconnectInMs: delay + NOTICE_MS });
      this.closeLater(socket, delay + NOTICE_MS, now + delay + NOTICE_MS + BUSY_WAIT_MS);
    });
  }

  /** Closes the transport once the notice is out and the socket's handlers are done (until the deadline). */
  private closeLater(socket: GatewaySocket, delayMs: number, deadline: number): void {
    const timer = setTimeout(() => {
      this.pendingCloses.delete(timer);
      if (!socket.connected) return;
      if (this.d.inflightOf(socket) > 0 && this.now() < deadline) return this.closeLater(socket, 50, deadline);
      this.d.metrics.rebalanceDisconnects.inc();
      // The pod stays ready: the client's next polls may still arrive here, so no discard for polling.
      socket.conn.close();
    }, delayMs);
    timer.unref();
    this.pendingCloses.add(timer);
  }
}
