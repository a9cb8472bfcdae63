// Keeps "everyone in the room but the sender" (socket.to(room)) and cross-pod deliveries on
// uWebSockets.js native publish. socket.io's uWS patch only fast-publishes when nothing is excluded
// and otherwise loops over every socket in JavaScript (about 10x slower at 1,000 subscribers).
// Install after io.attachApp (which patches Adapter.prototype.broadcast) and before the delivery
// counter, which then counts what this path sends exactly as it counts the classic path.
import { Adapter, type BroadcastOptions } from "socket.io-adapter";
import type { Uws } from "./uws-loader.js";

type App = ReturnType<Uws["App"]>;
type Broadcast = Adapter["broadcast"];

/** socket.io's uWS topic naming: `${namespace}\x1f${room}` (see socket.io/dist/uws.js). */
const SEPARATOR = "\x1f";

interface UwsSocketLike {
  publish(topic: string, message: string | Uint8Array, isBinary?: boolean): boolean;
}
interface EngineSocketLike {
  conn: { transport: { name: string; socket?: UwsSocketLike } };
  client: { writeToEngine(packets: unknown[], opts: { preEncoded: boolean; volatile?: boolean; compress?: boolean }): void };
}
interface AdapterInternals {
  nsp: { name: string; sockets: Map<string, EngineSocketLike> };
  rooms: Map<string, Set<string>>;
  encoder: { encode(packet: unknown): Array<string | Uint8Array> };
  apply(opts: BroadcastOptions, cb: (socket: EngineSocketLike) => void): void;
}

export interface NativeBroadcastStats {
  /** Broadcasts published from the sender's own WebSocket (uWS leaves the publisher out). */
  senderExcluded: number;
  /** Broadcasts with an `except` that excludes no local WebSocket member (e.g. cross-pod deliveries). */
  appWide: number;
  /** Broadcasts handed back to socket.io (several rooms, several local exclusions, closed sockets). */
  classic: number;
}

/**
 * Which local WebSocket socket, if any, must be left out of a native publish to `room`:
 * undefined = nobody (app.publish is exact), a socket = exactly that one (its ws.publish is exact),
 * null = more than one, or one we cannot publish from (fall back to the classic loop).
 */
function excludedPublisher(adapter: AdapterInternals, room: string | undefined, except: Set<string>): EngineSocketLike | undefined | null {
  const members = room === undefined ? undefined : adapter.rooms.get(room);
  let found: EngineSocketLike | undefined;
  for (const exceptRoom of except) {
    const sids = adapter.rooms.get(exceptRoom);
    if (!sids) continue; // not a local socket or room: a remote sender (cross-pod), nothing to exclude here
    for (const sid of sids) {
      if (members && !members.has(sid)) continue;
      const socket = adapter.nsp.sockets.get(sid);
      if (!socket || socket.conn.transport.name !== "websocket") continue; // polling sockets are not subscribed to topics
      if (found && found !== socket) return null;
      found = socket;
    }
  }
  return found;
}

export function installNativeBroadcast(app: App, stats?: NativeBroadcastStats): () => void {
  const inner: Broadcast = Adapter.prototype.broadcast;
  /**
   * Sender-excluded publishes wait for setImmediate. A socket.to(room) emitted by a handler runs inside the
   * sender's uWS message callback, where uWS keeps the sender corked: a ws.publish from there then writes
   * every subscriber uncorked, one frame at a time (measured with raw uWS, 1,000 subscribers: 460k vs 980k
   * deliveries/s at 1,000 msg/s, p99 56 vs 8 ms at 100 msg/s). Published from the check phase, the
   * subscribers' frames are corked and batched. While anything is queued, every later broadcast queues
   * behind it, so broadcasts keep their order; direct emits (acks) are not broadcasts and are not delayed.
   */
  let queue: Array<() => void> = [];
  const flush = () => {
    const run = queue;
    queue = [];
    for (const publish of run) publish();
  };
  const later = (publish: () => void) => {
    if (queue.length === 0) setImmediate(flush);
    queue.push(publish);
  };
  Adapter.prototype.broadcast = function (this: Adapter, packet, opts) {
    const except = opts.except;
    // No exclusion (socket.io's own fast path) or several rooms (a union uWS cannot express): as before.
    if (!except || except.size === 0 || opts.rooms.size > 1) {
      if (queue.length === 0) return inner.call(this, packet, opts);
      return later(() => inner.call(this, packet, opts));
    }
    const adapter = this as unknown as AdapterInternals;
    const room: string | undefined = opts.rooms.size === 1 ? opts.rooms.values().next().value : undefined;
    const publisher = excludedPublisher(adapter, room, except);
    const ws = publisher?.conn.transport.socket;
    if (publisher === null || (publisher && !ws)) {
      if (stats) stats.classic++;
      if (queue.length === 0) return inner.call(this, packet, opts);
      return later(() => inner.call(this, packet, opts));
    }
    (packet as { nsp: string }).nsp = adapter.nsp.name;
    const encoded = adapter.encoder.encode(packet);
    const topic = room === undefined ? adapter.nsp.name : `${adapter.nsp.name}${SEPARATOR}${room}`;
    const publish = () => {
      try {
        for (const p of encoded) {
          const isBinary = typeof p !== "string";
          // "4" is the Engine.IO MESSAGE type; binary attachments go as they are (as socket.io's patch does).
          const frame = isBinary ? p : "4" + p;
          if (ws) ws.publish(topic, frame, isBinary);
          else app.publish(topic, frame, isBinary);
        }
      } catch {
        // uWS throws on a WebSocket that closed a moment ago (before anything was published): classic path,
        // which skips the closed sender by itself. The packet is encoded already: pass it pre-encoded.
        if (stats) stats.classic++;
        return void inner.call(this, packet, opts);
      }
      if (stats) {
        if (ws) stats.senderExcluded++;
        else stats.appWide++;
      }
      // HTTP long-polling members are not subscribed to uWS topics: they get the classic write.
      const flags = opts.flags ?? {};
      const writeOpts = { preEncoded: true, volatile: flags.volatile, compress: flags.compress };
      adapter.apply(opts, (socket) => {
        if (socket.conn.transport.name !== "websocket") socket.client.writeToEngine(encoded, writeOpts);
      });
    };
    // Published from a socket (the case that suffers from the sender's cork) or behind queued ones: deferred.
    if (ws || queue.length > 0) later(publish);
    else publish();
  };
  return () => {
    flush();
    Adapter.prototype.broadcast = inner;
  };
}
