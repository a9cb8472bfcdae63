// One connected socket from start to end: user room, event binding, metrics, logs, presence cleanup.
import type { Socket } from "socket.io";
import { userRoom } from "../auth/room-access.js";
import type { TransportName } from "../ops/metrics.js";
import type { EventDefinition, GatewayContext } from "./context.js";
import { bindEvents, type InflightHandlers } from "./event-pipeline.js";
import { sessionOf } from "./session.js";

/** Disconnect reasons that are part of normal life: logged at info, never as errors. */
const NORMAL_REASONS = new Set(["client namespace disconnect", "transport close", "server namespace disconnect", "server shutting down", "ping timeout", "forced close", "forced server close"]);

export function handleConnection(socket: Socket, events: ReadonlyMap<string, EventDefinition>, ctx: GatewayContext, inflight: InflightHandlers): void {
  const session = sessionOf(socket);
  const { metrics, logger } = ctx;
  const userId = session.identity.userId;
  const log = logger.child({ socketId: socket.id, userId, deviceId: session.deviceId, address: session.clientAddress });

  let transport: TransportName = socket.conn.transport.name === "websocket" ? "websocket" : "polling";
  session.transport = transport;
  metrics.connections.inc({ transport });
  const onUpgrade = () => {
    metrics.connections.dec({ transport });
    transport = "websocket";
    session.transport = transport;
    metrics.connections.inc({ transport });
  };
  socket.conn.on("upgrade", onUpgrade);

  void socket.join(userRoom(userId));
  bindEvents(socket, events, ctx, inflight);
  log.info({ transport, userAgent: session.userAgent }, "connected");

  socket.once("disconnect", (reason, description) => {
    socket.conn.off("upgrade", onUpgrade);
    metrics.connections.dec({ transport });
    const rooms = [...session.rooms];
    session.rooms.clear();
    // Presence cleanup is tracked like a handler, so a drain waits for it before settling presence.
    const cleanup = Promise.all(rooms.map((room) => ctx.presence.leave(room, userId, socket.id))).catch((err: unknown) =>
      log.warn({ err }, "presence cleanup failed; entries expire through the TTL"),
    );
    inflight.track(cleanup);
    const fields = { reason, closedBy: session.closing, transport, rooms: rooms.length };
    if (NORMAL_REASONS.has(reason) || session.closing) log.info(fields, "disconnected");
    else log.warn({ ...fields, description: describe(description) }, "disconnected abnormally");
  });
}

function describe(d: unknown): string | undefined {
  if (d instanceof Error) return d.message;
  if (d && typeof d === "object" && "description" in d) return String((d as { description: unknown }).description);
  return undefined;
}
