// Carries trace context with broadcasts, through the Redis adapter, to the pod that delivers.
// The emitting side stamps `traceparent` on the adapter packet (the Redis adapter serialises the
// whole packet object with msgpack, so the field travels with it; Socket.IO's encoder ignores it,
// so clients never see it). The delivering side (Adapter.prototype.broadcast, see delivery-counter)
// starts a `deliver` span under it on every pod that has recipients.
import type { Adapter } from "socket.io-adapter";
import { activeTraceparent, startDeliverSpan, tracingEnabled, type ActiveSpan } from "./tracing.js";

/** The packet field that carries the W3C trace context between pods. */
export const PACKET_TRACE_FIELD = "traceparent";

type Broadcast = Adapter["broadcast"];
type Packet = Parameters<Broadcast>[0] & { [PACKET_TRACE_FIELD]?: unknown };

/**
 * Wraps one namespace adapter instance (the outermost broadcast, before the Redis adapter publishes):
 * a broadcast made while a sampled span is active carries that span's traceparent. Installs nothing
 * when tracing is off. Returns the undo.
 */
export function installTraceInjection(adapter: Adapter): () => void {
  if (!tracingEnabled()) return () => {};
  const own = Object.hasOwn(adapter, "broadcast");
  const inner = adapter.broadcast;
  const wrapped: Broadcast = function (this: Adapter, packet, opts) {
    const tp = activeTraceparent();
    if (tp !== undefined && (packet as Packet)[PACKET_TRACE_FIELD] === undefined) (packet as Packet)[PACKET_TRACE_FIELD] = tp;
    return inner.call(this, packet, opts);
  };
  adapter.broadcast = wrapped;
  return () => {
    if (adapter.broadcast !== wrapped) return;
    if (own) adapter.broadcast = inner;
    else delete (adapter as Partial<Adapter>).broadcast;
  };
}

/**
 * Called by the local delivery wrapper: a `deliver` span, child of the packet's trace context, when
 * tracing is on, the packet carries one and this pod has recipients. Undefined otherwise (the common case).
 */
export function traceDelivery(packet: Parameters<Broadcast>[0], recipients: number, podRooms: number): ActiveSpan | undefined {
  const tp = (packet as Packet)[PACKET_TRACE_FIELD];
  if (tp === undefined || recipients === 0 || !tracingEnabled()) return undefined;
  const data = (packet as { data?: unknown }).data;
  const event = Array.isArray(data) && typeof data[0] === "string" ? data[0].slice(0, 64) : "unknown";
  return startDeliverSpan(tp, { "messaging.operation.type": "process", "socketgate.recipients": recipients, "socketgate.target_rooms": podRooms, "socketgate.emitted_event": event });
}
