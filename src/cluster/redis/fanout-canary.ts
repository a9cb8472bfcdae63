// The fan-out canary: probes published through the Socket.IO Redis adapter's own pub/sub path (same
// subscriber connection, same channels, one probe room per shard for the sharded adapter) must come
// back to this pod within a deadline; a dropped or silently wedged subscription is reported, rebuilt,
// and announced to the resync once probes come back.
import { MessageType, type Adapter, type BroadcastOptions } from "socket.io-adapter";
import type { Cluster, Redis } from "ioredis";
import type { DeliveredPacket, FanoutHealth, FanoutInterruption } from "../fanout-health.js";
import type { Logger } from "../../ops/logger.js";
import type { GatewayMetrics } from "../../ops/metrics.js";
import type { AdapterKind, RedisClients } from "./redis-clients.js";
import type { SubscriptionTracker } from "./subscription-tracker.js";

export interface CanaryOptions {
  /** A probe per route this often. */
  intervalMs: number;
  /** A probe not back by then means fan-out is interrupted (dropped connections are noticed at once). */
  deadlineMs: number;
}

/** 1 s probes, 4 s deadline: a wedge is reported within about 5 s, well inside the 10 s contract. */
export const DEFAULT_CANARY: CanaryOptions = { intervalMs: 1000, deadlineMs: 4000 };

/** Probe rooms start with this: `#` never appears in client room names, so no socket is ever in one. */
export const CANARY_ROOM_PREFIX = "#canary:";
/** Not an adapter uid (uid2(6) gives 6 characters): the adapter never ignores a probe as its own. */
const CANARY_UID = "socketgate-canary";
const PROBE_EVENT = "#canary";

/** One probe path: for the sharded adapter one per master (its own subscriber connection), else one. */
interface Route {
  room: string;
  /** Oldest probe sent and not back yet. */
  pendingSince?: number;
  lastOkAt: number;
}

interface ClassicInternals {
  channel: string;
  parser: { encode(value: unknown): Buffer | string };
}
interface ShardedInternals {
  channel: string;
  encode(message: unknown): Buffer | string;
}

export class FanoutCanary implements FanoutHealth {
  private routes = new Map<string, Route>();
  /** Sharded adapter: master node key -> a hash tag whose slot that master serves. */
  private readonly tags = new Map<string, { tag: string; slot: number }>();
  private healthy = true;
  /** Every route has carried a probe at least once: before that, connection events are start-up noise. */
  private proven = false;
  private interruption?: { since: number; detectedAt: number };
  private lastRebuildAt = 0;
  private probeCount = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private routing?: Promise<void>;
  private readonly listeners: Array<(i: FanoutInterruption) => void> = [];
  private readonly onSubscriberLost = () => {
    if (this.proven) this.interrupted("subscriber_dropped");
  };

  /** Set by watch(): the namespace adapter whose pub/sub path the probes take. */
  private adapter?: Adapter;

  constructor(
    private readonly clients: RedisClients,
    private readonly kind: AdapterKind,
    private readonly podId: string,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly options: CanaryOptions = DEFAULT_CANARY,
    /** Sharded adapter: the per-room SSUBSCRIBEs still waiting for Redis (roomSubscribed). */
    private readonly subscriptions?: SubscriptionTracker,
  ) {}

  watch(adapter: Adapter): void {
    if (this.adapter || this.closed) return;
    this.adapter = adapter;
    // Not proven yet: 0 until a probe came back on every route (readiness waits for the same proof).
    this.metrics.fanoutHealthy.set(0);
    // A closed or reconnecting subscriber connection lost whatever was published meanwhile: no need to wait for a probe.
    for (const ev of ["close", "reconnecting", "end", "-node"]) this.clients.sub.on(ev, this.onSubscriberLost);
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
    this.tick();
  }

  /** False until the first proof: a pod whose subscriptions are still on their way (connect, AUTH, TLS) is not ready. */
  isHealthy(): boolean {
    return this.healthy && this.proven;
  }

  async roomSubscribed(room: string, timeoutMs: number): Promise<void> {
    if (this.kind === "classic" || !this.adapter || !this.subscriptions) return;
    // The sharded adapter's per-room channel (dynamic subscription mode), as in its dynamicChannel().
    await this.subscriptions.confirmed(`${(this.adapter as unknown as ShardedInternals).channel}${room}#`, timeoutMs);
  }

  onRecovered(listener: (i: FanoutInterruption) => void): void {
    this.listeners.push(listener);
  }

  observe(packet: DeliveredPacket, opts: BroadcastOptions): boolean {
    if (opts.rooms.size !== 1) return false;
    const room = opts.rooms.values().next().value as string;
    if (!room.startsWith(CANARY_ROOM_PREFIX)) return false;
    // Other pods' probes reach this pod too (the classic adapter's pattern subscription): consumed, not delivered.
    const route = [...this.routes.values()].find((r) => r.room === room);
    if (route && Array.isArray(packet.data) && packet.data[0] === PROBE_EVENT) {
      route.pendingSince = undefined;
      route.lastOkAt = Date.now();
      this.evaluate();
    }
    return true;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const ev of ["close", "reconnecting", "end", "-node"]) this.clients.sub.off(ev, this.onSubscriberLost);
    if (this.kind === "sharded") for (const r of this.routes.values()) this.adapter?.emit("delete-room", r.room);
  }

  private tick(): void {
    const adapter = this.adapter;
    if (this.closed || !adapter) return;
    this.routing ??= this.refreshRoutes(adapter)
      .catch((err: unknown) => this.logger.warn({ err }, "fan-out canary: cannot read the cluster's shards"))
      .finally(() => (this.routing = undefined));
    const now = Date.now();
    for (const route of this.routes.values()) {
      this.publish(adapter, route.room);
      route.pendingSince ??= now;
    }
    this.evaluate(now);
  }

  private evaluate(now = Date.now()): void {
    if (this.closed) return;
    const subscriberUp = this.clients.sub.status === "ready";
    const late = [...this.routes.values()].some((r) => r.pendingSince !== undefined && now - r.pendingSince > this.options.deadlineMs);
    if (!this.proven && this.routes.size > 0 && [...this.routes.values()].every((r) => r.pendingSince === undefined)) {
      this.proven = true;
      if (this.healthy) {
        this.metrics.fanoutHealthy.set(1);
        this.logger.info({ routes: this.routes.size }, "fan-out proven on every route: ready for cross-pod messages");
      }
    }
    // Before the first proof, a subscriber still connecting is start-up, not an interruption; a probe past its deadline is one.
    if (late || (!subscriberUp && this.proven)) return this.interrupted(subscriberUp ? "probe_timeout" : "subscriber_dropped", now);
    if (this.healthy || !this.interruption) return;
    // Healed only when every route carried a probe after the interruption was noticed.
    const detectedAt = this.interruption.detectedAt;
    if (this.routes.size === 0 || [...this.routes.values()].some((r) => r.lastOkAt <= detectedAt)) return;
    const interruption: FanoutInterruption = { ...this.interruption, healedAt: now };
    this.healthy = true;
    this.interruption = undefined;
    this.metrics.fanoutHealthy.set(1);
    this.logger.info(
      { downMs: now - interruption.since, detectedAfterMs: interruption.detectedAt - interruption.since },
      "fan-out healthy again: resyncing local sockets",
    );
    for (const listener of this.listeners) listener(interruption);
  }

  private interrupted(reason: "subscriber_dropped" | "probe_timeout", now = Date.now()): void {
    if (this.closed) return;
    if (this.healthy) {
      this.healthy = false;
      const lastProof = Math.min(now, ...[...this.routes.values()].map((r) => r.lastOkAt));
      this.interruption = { since: lastProof, detectedAt: now };
      this.metrics.fanoutHealthy.set(0);
      this.metrics.fanoutInterruptions.inc();
      this.logger.error(
        { reason, lastProofMsAgo: now - lastProof },
        "fan-out interrupted: cross-pod messages may be missed; rebuilding the subscription, then resyncing",
      );
    }
    // A wedged connection looks "ready" forever: rebuild it (ioredis resubscribes everything on reconnect),
    // at most once per deadline so a slow Redis is not hammered with reconnects.
    if (reason === "probe_timeout" && now - this.lastRebuildAt > this.options.deadlineMs) {
      this.lastRebuildAt = now;
      for (const r of this.routes.values()) r.pendingSince = undefined;
      this.logger.warn("fan-out canary: probes are not coming back on a connected subscriber: reconnecting it");
      this.clients.sub.disconnect(true);
    }
  }

  private publish(adapter: Adapter, room: string): void {
    const packet = { type: 2, data: [PROBE_EVENT, ++this.probeCount], nsp: adapter.nsp.name };
    const opts = { rooms: [room], except: [], flags: {} };
    let sent: Promise<unknown>;
    if (this.kind === "classic") {
      // The namespace channel (room ""), which the adapter's pattern subscription receives without a local-room check.
      const a = adapter as unknown as ClassicInternals;
      sent = (this.clients.command as Redis).publish(a.channel, a.parser.encode([CANARY_UID, packet, opts]) as Buffer);
    } else {
      // The room's own channel, on the shard that serves it, exactly like a sharded-adapter broadcast to one room.
      const a = adapter as unknown as ShardedInternals;
      const message = { uid: CANARY_UID, nsp: adapter.nsp.name, type: MessageType.BROADCAST, data: { opts, packet } };
      sent = (this.clients.command as Cluster).spublish(`${a.channel}${room}#`, a.encode(message) as Buffer);
    }
    // A failed publish (Redis down) simply never comes back: the deadline reports it.
    sent.catch(() => undefined);
  }

  /** One route for the classic adapter; for the sharded one, one per master, re-read when the topology changes. */
  private async refreshRoutes(adapter: Adapter): Promise<void> {
    if (this.kind === "classic") {
      if (this.routes.size === 0) this.routes.set("all", { room: `${CANARY_ROOM_PREFIX}${this.podId}`, lastOkAt: Date.now() });
      return;
    }
    const cluster = this.clients.command as Cluster;
    const masters = new Set<string>();
    for (const owners of cluster.slots) if (owners?.[0]) masters.add(owners[0]);
    if (masters.size === 0) return;
    await this.findTags(cluster, masters);
    const wanted = new Map<string, string>();
    for (const master of masters) {
      const found = this.tags.get(master);
      if (found) wanted.set(master, `${CANARY_ROOM_PREFIX}{${found.tag}}:${this.podId}`);
    }
    for (const [master, route] of this.routes)
      if (wanted.get(master) !== route.room) {
        this.routes.delete(master);
        adapter.emit("delete-room", route.room);
      }
    for (const [master, room] of wanted)
      if (!this.routes.has(master)) {
        // What the sharded adapter does when a room gets its first local socket: SSUBSCRIBE to the room's channel.
        adapter.emit("create-room", room);
        this.routes.set(master, { room, lastOkAt: Date.now() });
      }
  }

  /** Hash tags whose slot each master serves (CLUSTER KEYSLOT, a few dozen calls when the topology changes). */
  private async findTags(cluster: Cluster, masters: Set<string>): Promise<void> {
    for (const [master, { slot }] of this.tags) if (cluster.slots[slot]?.[0] !== master) this.tags.delete(master);
    for (let i = 0; i < 1024 && [...masters].some((m) => !this.tags.has(m)); i++) {
      const candidate = `c${i}`;
      const slot = Number(await cluster.cluster("KEYSLOT", candidate));
      const owner = cluster.slots[slot]?.[0];
      if (owner && masters.has(owner) && !this.tags.has(owner)) this.tags.set(owner, { tag: candidate, slot });
    }
  }
}
