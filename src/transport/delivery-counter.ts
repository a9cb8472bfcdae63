// Counts messages delivered to local sockets by broadcasts, wherever they came from (this pod or
// another pod through the Redis adapter): both paths end in Adapter.prototype.broadcast.
import { Adapter } from "socket.io-adapter";
import type { GatewayMetrics } from "../ops/metrics.js";

type Broadcast = Adapter["broadcast"];

export function installDeliveryCounter(metrics: GatewayMetrics): () => void {
  // Installed after io.attachApp, which patches the same method for uWS native publish: we wrap that.
  const inner: Broadcast = Adapter.prototype.broadcast;
  Adapter.prototype.broadcast = function (this: Adapter, packet, opts) {
    let recipients = 0;
    if (opts.rooms.size === 0) recipients = this.sids.size;
    else for (const room of opts.rooms) recipients += this.rooms.get(room)?.size ?? 0;
    if (opts.except && opts.except.size > 0) for (const room of opts.except) recipients -= Math.min(recipients, this.rooms.get(room)?.size ?? 0);
    if (recipients > 0) metrics.messagesDelivered.inc(recipients);
    return inner.call(this, packet, opts);
  };
  return () => {
    Adapter.prototype.broadcast = inner;
  };
}
