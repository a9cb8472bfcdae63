// One connected socket from start to end: user room, event binding, metrics, logs, presence cleanup.
import type { PresenceEntry } from "../cluster/types.js";
import type { Admission } from "../auth/admission.js";
import type { GatewayServer, GatewaySocket } from "./session.js";
import { userRoom } from "../auth/room-access.js";
import type { EventDefinition, GatewayContext } from "./context.js";
import { eventListener, type InflightHandlers } from "./event-pipeline.js";

/** Disconnect reasons that are part of normal life: logged at info, never as errors. */
const NORMAL_REASONS = new Set([
  "client namespace disconnect",
  "transport close",
  "server namespace disconnect",
  "server shutting down",
  "ping timeout",
  "forced close",
  "forced server close",
]);

type ConnectionHandler = (socket: GatewaySocket) => void;

/** The two steps every socket passes: admission (auth, capacity) before `connection`, then its per-socket setup. */
export function acceptConnections(io: GatewayServer, admission: Admission, onConnection: ConnectionHandler): void {
  io.use(admission.middleware);
  io.on("connection", onConnection);
}

/** This pod's presence truth: every connected socket in every client room it joined. */
export function* localPresenceEntries(io: GatewayServer): Iterable<PresenceEntry> {
  for (const socket of io.of("/").sockets.values())
    for (const room of socket.data.rooms) yield { room, userId: socket.data.identity.userId, socketKey: socket.id };
}

/**
 * Builds the connection handler once per gateway. Every per-socket listener it installs is shared by
 * all sockets (socket.io and engine.io call listeners with `this` = the socket): an idle connection
 * then costs no closures, contexts or child logger of ours, only its session.
 */
export function connectionHandler(events: ReadonlyMap<string, EventDefinition>, ctx: GatewayContext, inflight: InflightHandlers): ConnectionHandler {
  const { metrics, logger } = ctx;
  const onAny = eventListener(events, ctx, inflight);
  /** Log fields of a socket, built only when a line is written (a pino child per socket costs ~1 KB for its lifetime). */
  const fieldsOf = (socket: GatewaySocket) => {
    const session = socket.data;
    return { socketId: socket.id, userId: session.identity.userId, deviceId: session.deviceId, address: session.clientAddress };
  };

  // engine.io emits "upgrade" on its own GatewaySocket (socket.conn); the socket.io socket is found through the session map.
  const upgraded = new WeakMap<object, GatewaySocket>();
  function onUpgrade(this: object): void {
    const socket = upgraded.get(this);
    if (!socket) return;
    upgraded.delete(this);
    const session = socket.data;
    metrics.connections.dec({ transport: session.transport });
    session.transport = "websocket";
    metrics.connections.inc({ transport: "websocket" });
  }

  function onDisconnect(this: GatewaySocket, reason: string, description: unknown): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- one listener shared by every socket: `this` is the socket
    const socket = this;
    const session = socket.data;
    ctx.tokens.expiry.disarm(session);
    if (upgraded.delete(socket.conn)) socket.conn.off("upgrade", onUpgrade);
    const transport = session.transport;
    metrics.connections.dec({ transport });
    const userId = session.identity.userId;
    const rooms = [...session.rooms];
    session.rooms.clear();
    // Presence cleanup is tracked like a handler, so a drain waits for it before settling presence.
    const cleanup = Promise.all(rooms.map((room) => ctx.presence.leave(room, userId, socket.id))).catch((err: unknown) =>
      logger.warn({ ...fieldsOf(socket), err }, "presence cleanup failed; entries expire through the TTL"),
    );
    inflight.track(cleanup);
    const fields = { reason, closedBy: session.closing, transport, rooms: rooms.length };
    if (NORMAL_REASONS.has(reason) || session.closing) {
      logger.info({ ...fieldsOf(socket), ...fields }, "disconnected");
    } else logger.warn({ ...fieldsOf(socket), ...fields, description: describe(description) }, "disconnected abnormally");
  }

  return (socket) => {
    const session = socket.data;
    const transport = socket.conn.transport.name === "websocket" ? "websocket" : "polling";
    session.transport = transport;
    metrics.connections.inc({ transport });
    // Only a polling transport can still upgrade: a WebSocket from the start needs no listener.
    if (transport === "polling") {
      upgraded.set(socket.conn, socket);
      socket.conn.on("upgrade", onUpgrade);
    }
    // Admission already read what it needs from the upgrade request (address, user agent, forwarded-for):
    // socket.io and engine.io would keep the request and every header (cookies included, often 1-2 KB)
    // for the socket's whole life. Nothing of ours reads them after the handshake.
    (socket.conn as unknown as { request?: unknown }).request = undefined;
    socket.handshake.headers = {};
    void socket.join(userRoom(session.identity.userId));
    socket.onAny(onAny);
    ctx.tokens.expiry.arm(socket);
    logger.info({ ...fieldsOf(socket), transport, userAgent: session.userAgent }, "connected");
    socket.once("disconnect", onDisconnect);
  };
}

function describe(d: unknown): string | undefined {
  if (d instanceof Error) return d.message;
  if (d && typeof d === "object" && "description" in d) return String((d as { description: unknown }).description);
  return undefined;
}
