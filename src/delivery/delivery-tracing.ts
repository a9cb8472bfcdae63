// Carries trace context with broadcasts, through the Redis adapter, to the pod that delivers.
// The emitting side stamps `traceparent` on the adapter packet (the Redis adapter serialises the
// whole packet object, so the field travels with it; Socket.IO's encoder ignores it, so clients
// never see it). The delivering side (LocalDelivery) starts a `deliver` span under it on every pod
// that has recipients.
import type { Adapter } from "socket.io-adapter";
import { activeTraceparent, startDeliverSpan, tracingEnabled, type ActiveSpan } from "../ops/tracing.js";

/** The packet field that carries the W3C trace context between pods. */
export const PACKET_TRACE_FIELD = "traceparent";

export type BroadcastPacket = Parameters<Adapter["broadcast"]>[0];
type TracedPacket = BroadcastPacket & { [PACKET_TRACE_FIELD]?: unknown };

/** Emitting side: a broadcast made while a sampled span is active carries that span's traceparent. */
export function stampTraceContext(packet: BroadcastPacket): void {
  if (!tracingEnabled()) return;
  const tp = activeTraceparent();
  if (tp !== undefined && (packet as TracedPacket)[PACKET_TRACE_FIELD] === undefined) (packet as TracedPacket)[PACKET_TRACE_FIELD] = tp;
}

/**
 * Delivering side: a `deliver` span, child of the packet's trace context, when tracing is on, the
 * packet carries one and this pod has recipients. Undefined otherwise (the common case).
 */
export function traceDelivery(packet: BroadcastPacket, recipients: number, podRooms: number): ActiveSpan | undefined {
  const tp = (packet as TracedPacket)[PACKET_TRACE_FIELD];
  if (tp === undefined || recipients === 0 || !tracingEnabled()) return undefined;
  const data = (packet as { data?: unknown }).data;
  const event = Array.isArray(data) && typeof data[0] === "string" ? data[0].slice(0, 64) : "unknown";
  return startDeliverSpan(tp, {
    "messaging.operation.type": "process",
    "socketgate.recipients": recipients,
    "socketgate.target_rooms": podRooms,
    "socketgate.emitted_event": event,
  });
}
