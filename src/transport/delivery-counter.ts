// Counts messages delivered to local sockets by broadcasts, wherever they came from (this pod or
// another pod through the Redis adapter): both paths end in Adapter.prototype.broadcast.
import { Adapter } from "socket.io-adapter";
import { traceDelivery } from "../ops/broadcast-tracing.js";
import type { GatewayMetrics } from "../ops/metrics.js";
import { countRecipients } from "../ops/recipient-count.js";

type Broadcast = Adapter["broadcast"];

export function installDeliveryCounter(metrics: GatewayMetrics): () => void {
  // Installed after io.attachApp, which patches the same method for uWS native publish: we wrap that.
  const inner: Broadcast = Adapter.prototype.broadcast;
  Adapter.prototype.broadcast = function (this: Adapter, packet, opts) {
    const recipients = countRecipients(this, opts);
    if (recipients > 0) metrics.messagesDelivered.inc(recipients);
    // A packet stamped with trace context (see ops/broadcast-tracing) gets a `deliver` span here, on every pod.
    const span = traceDelivery(packet, recipients, opts.rooms.size);
    if (!span) return inner.call(this, packet, opts);
    try {
      return span.run(() => inner.call(this, packet, opts));
    } finally {
      span.end();
    }
  };
  return () => {
    Adapter.prototype.broadcast = inner;
  };
}
