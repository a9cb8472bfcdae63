// The one place a broadcast reaches this server's sockets: native uWS publish, recipient counting
// (messages_delivered_total), trace context, and the observers that watch what arrives (the fan-out
// canary, delivered positions for resync). Per server: two gateways in one process stay apart.
import { Adapter, type BroadcastOptions } from "socket.io-adapter";
import type { GatewayMetrics } from "../ops/metrics.js";
import type { Uws } from "../transport/uws-loader.js";
import { stampTraceContext, traceDelivery, type BroadcastPacket } from "./delivery-tracing.js";
import { NativePublisher, type NativePublishStats } from "./native-publish.js";
import { countRecipients } from "./recipient-count.js";

type App = ReturnType<Uws["App"]>;
type Broadcast = Adapter["broadcast"];

/**
 * Sees every broadcast about to reach this server's sockets (local or from another pod). Returns true
 * when the packet was its own (e.g. a canary probe) and must not be delivered to any socket.
 */
export type DeliveryObserver = (packet: BroadcastPacket, opts: BroadcastOptions) => boolean;

/**
 * socket.io-adapter's own in-memory broadcast (the JavaScript loop), captured when this module loads:
 * before any io.attachApp, which replaces Adapter.prototype.broadcast with socket.io's uWS patch.
 */
const classicBroadcast: Broadcast = Adapter.prototype.broadcast;

/** The namespace adapters this process delivers for, each with its server's LocalDelivery. */
const servers = new WeakMap<Adapter, LocalDelivery>();
let dispatching = false;

/**
 * The one Adapter.prototype patch, installed once per process and never removed. It is unavoidable:
 * the Redis adapters deliver what arrives from other pods with `super.broadcast(...)`, which is bound to
 * Adapter.prototype, so no per-instance wrapper sees those deliveries. The accessor dispatches to the
 * adapter's own LocalDelivery; adapters of no gateway get whatever socket.io installed (its uWS patch
 * at attachApp, the original after io.close()), which the setter keeps as the fallback, so socket.io's
 * patch and restore can no longer overwrite another server's delivery.
 */
function installDispatcher(): void {
  if (dispatching) return;
  dispatching = true;
  let fallback: Broadcast = Adapter.prototype.broadcast;
  const dispatch: Broadcast = function (this: Adapter, packet, opts) {
    const local = servers.get(this);
    if (local) return local.deliver(this, packet, opts);
    return fallback.call(this, packet, opts);
  };
  Object.defineProperty(Adapter.prototype, "broadcast", {
    configurable: true,
    get: () => dispatch,
    set: (replacement: Broadcast) => {
      fallback = replacement;
    },
  });
}

export interface LocalDeliveryOptions {
  app: App;
  metrics: GatewayMetrics;
  stats?: NativePublishStats;
}

/**
 * Guarantee: every broadcast that targets this server's sockets, wherever it was emitted, is shown to
 * each observer, counted once per recipient socket in messages_delivered_total, delivered under a
 * `deliver` span when it carries trace context, and sent in emission order (native publish where uWS
 * can express the target exactly, the JavaScript loop otherwise). Delivery to sockets is at most once:
 * what the pub/sub layer drops before it gets here is the fan-out canary's and the resync's concern.
 */
export class LocalDelivery {
  private readonly publisher: NativePublisher;
  private readonly observers: DeliveryObserver[] = [];
  private readonly attached: Array<{ adapter: Adapter; undo: () => void }> = [];

  constructor(private readonly options: LocalDeliveryOptions) {
    this.publisher = new NativePublisher(options.app, (adapter, packet, opts) => classicBroadcast.call(adapter, packet, opts), options.stats);
    installDispatcher();
  }

  /**
   * Delivers for this namespace adapter from now on. Call after the adapter is final (io.adapter() in
   * cluster mode replaces it). Also stamps trace context on broadcasts emitted through it, before the
   * Redis adapter publishes them to other pods.
   */
  attach(adapter: Adapter): void {
    servers.set(adapter, this);
    const own = Object.hasOwn(adapter, "broadcast");
    const inner = adapter.broadcast;
    const stamped: Broadcast = function (this: Adapter, packet, opts) {
      stampTraceContext(packet);
      return inner.call(this, packet, opts);
    };
    // defineProperty, not assignment: the in-memory adapter has no broadcast of its own, so `adapter.broadcast =`
    // would reach the prototype's accessor above, never stamp this adapter, and make `stamped` every other
    // adapter's fallback (which then calls the dispatcher again, forever).
    Object.defineProperty(adapter, "broadcast", { value: stamped, writable: true, configurable: true, enumerable: false });
    this.attached.push({
      adapter,
      undo: () => {
        servers.delete(adapter);
        if (adapter.broadcast !== stamped) return;
        if (own) Object.defineProperty(adapter, "broadcast", { value: inner, writable: true, configurable: true, enumerable: false });
        else delete (adapter as Partial<Adapter>).broadcast;
      },
    });
  }

  observe(observer: DeliveryObserver): void {
    this.observers.push(observer);
  }

  deliver(adapter: Adapter, packet: BroadcastPacket, opts: BroadcastOptions): void {
    for (const observer of this.observers) if (observer(packet, opts)) return;
    const recipients = countRecipients(adapter, opts);
    if (recipients > 0) this.options.metrics.messagesDelivered.inc(recipients);
    const span = traceDelivery(packet, recipients, opts.rooms.size);
    if (!span) return this.publisher.publish(adapter, packet, opts);
    try {
      span.run(() => this.publisher.publish(adapter, packet, opts));
    } finally {
      span.end();
    }
  }

  /** Sends what is still queued and stops delivering for this server's adapters. */
  close(): void {
    this.publisher.flush();
    for (const { undo } of this.attached.splice(0)) undo();
  }
}
