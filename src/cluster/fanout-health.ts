// Whether live cross-pod fan-out works end to end: the seam between the pub/sub canary (cluster mode)
// and what depends on it (readiness, metrics, the resync of local sockets after an interruption).
import type { Adapter, BroadcastOptions } from "socket.io-adapter";

/** What LocalDelivery shows an observer: the broadcast packet as the adapter hands it over. */
export type DeliveredPacket = { type: number; data?: unknown; nsp?: string };

export interface FanoutInterruption {
  /** When the interruption began, as far as this pod can tell (the last proof that fan-out worked). */
  since: number;
  /** When this pod noticed it. */
  detectedAt: number;
  /** When fan-out was proven to work again. */
  healedAt: number;
}

/**
 * Guarantee (cluster mode): isHealthy() is false until a first probe came back on every route (so a
 * starting pod is not ready before its subscriptions carry messages); while it is true, a probe published through the same pub/sub path
 * the Socket.IO Redis adapter uses (same subscriber connection, same channels, on every shard the
 * sharded adapter spreads rooms over) came back within the deadline. A dropped subscriber connection
 * turns it false at once, a silently wedged one within the deadline (well under 10 s); the
 * subscription is then rebuilt, and once a probe comes back again every onRecovered listener runs with
 * the interruption's bounds, so what fan-out lost meanwhile can be replayed from history / inbox.
 * Pub/sub itself stays at-most-once: this reports and heals interruptions, it does not prevent them.
 * Embedded mode: always healthy, never interrupted.
 */
export interface FanoutHealth {
  /** Starts probing through the namespace adapter the gateway installed (call after io.adapter()). */
  watch(adapter: Adapter): void;
  isHealthy(): boolean;
  /**
   * Resolves once messages published to `room` on other pods reach this pod: call it after a local
   * socket joined the room. The sharded adapter subscribes per room, without waiting for Redis, so this
   * waits for Redis to confirm that subscription; the classic adapter's one pattern subscription is
   * covered by isHealthy(). Rejects when Redis refuses it or has not confirmed it within timeoutMs.
   */
  roomSubscribed(room: string, timeoutMs: number): Promise<void>;
  /** Sees each broadcast before local delivery; true when it was a probe (delivered to no socket). */
  observe(packet: DeliveredPacket, opts: BroadcastOptions): boolean;
  onRecovered(listener: (interruption: FanoutInterruption) => void): void;
  close(): void;
}

/** Embedded mode: one process, no pub/sub, nothing to interrupt. */
export const ALWAYS_HEALTHY: FanoutHealth = {
  watch: () => undefined,
  isHealthy: () => true,
  roomSubscribed: () => Promise.resolve(),
  observe: () => false,
  onRecovered: () => undefined,
  close: () => undefined,
};
