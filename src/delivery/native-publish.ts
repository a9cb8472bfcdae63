// Sends one broadcast to this server's local sockets over uWebSockets.js native publish: one call per
// topic in C++ instead of a JavaScript loop over the room. Covers what socket.io's own uWS patch
// covers (nothing excluded) and also "everyone in the room but the sender" (socket.to(room)) and
// cross-pod deliveries with an `except`, which socket.io's patch hands to the JavaScript loop (about
// 10x slower at 1,000 subscribers). Anything uWS cannot express exactly goes to that loop.
import type { Adapter, BroadcastOptions } from "socket.io-adapter";
import type { Uws } from "../transport/uws-loader.js";
import type { BroadcastPacket } from "./delivery-tracing.js";

type App = ReturnType<Uws["App"]>;

/** socket.io's uWS topic naming: `${namespace}\x1f${room}` (see socket.io/dist/uws.js, which subscribes sockets to it). */
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

/** The JavaScript loop over the target sockets (socket.io-adapter's own broadcast). */
export type ClassicBroadcast = (adapter: Adapter, packet: BroadcastPacket, opts: BroadcastOptions) => void;

export interface NativePublishStats {
  /** Broadcasts published from the sender's own WebSocket (uWS leaves the publisher out). */
  senderExcluded: number;
  /** Broadcasts published app-wide: nothing excluded, or an `except` that excludes no local WebSocket member. */
  appWide: number;
  /** Broadcasts handed to the JavaScript loop (several rooms, several local exclusions, closed sockets). */
  classic: number;
}

/**
 * Which local WebSocket socket, if any, must be left out of a native publish to `room`:
 * undefined = nobody (app.publish is exact), a socket = exactly that one (its ws.publish is exact),
 * null = more than one, or one we cannot publish from (fall back to the classic loop).
 */
function excludedPublisher(adapter: AdapterInternals, room: string | undefined, except: ReadonlySet<string> | undefined): EngineSocketLike | undefined | null {
  if (!except || except.size === 0) return undefined;
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

/** One per server: publishes on that server's own uWS app (two gateways in one process stay apart). */
export class NativePublisher {
  /**
   * Sender-excluded publishes wait for setImmediate. A socket.to(room) emitted by a handler runs inside the
   * sender's uWS message callback, where uWS keeps the sender corked: a ws.publish from there then writes
   * every subscriber uncorked, one frame at a time (measured with raw uWS, 1,000 subscribers: 460k vs 980k
   * deliveries/s at 1,000 msg/s, p99 56 vs 8 ms at 100 msg/s). Published from the check phase, the
   * subscribers' frames are corked and batched. While anything is queued, every later broadcast queues
   * behind it, so broadcasts keep their order; direct emits (acks) are not broadcasts and are not delayed.
   */
  private queue: Array<() => void> = [];

  constructor(
    private readonly app: App,
    private readonly classic: ClassicBroadcast,
    private readonly stats?: NativePublishStats,
  ) {}

  /** Runs what is queued now (close: nothing may stay behind). */
  flush(): void {
    const run = this.queue;
    this.queue = [];
    for (const publish of run) publish();
  }

  publish(adapter: Adapter, packet: BroadcastPacket, opts: BroadcastOptions): void {
    // Several rooms: a union uWS cannot express.
    if (opts.rooms.size > 1) return this.classicInOrder(adapter, packet, opts);
    const internals = adapter as unknown as AdapterInternals;
    const room: string | undefined = opts.rooms.size === 1 ? (opts.rooms.values().next().value as string) : undefined;
    const publisher = excludedPublisher(internals, room, opts.except);
    const ws = publisher?.conn.transport.socket;
    if (publisher === null || (publisher && !ws)) return this.classicInOrder(adapter, packet, opts);
    (packet as { nsp: string }).nsp = internals.nsp.name;
    const encoded = internals.encoder.encode(packet);
    const topic = room === undefined ? internals.nsp.name : `${internals.nsp.name}${SEPARATOR}${room}`;
    const publish = () => {
      try {
        for (const p of encoded) {
          const isBinary = typeof p !== "string";
          // "4" is the Engine.IO MESSAGE type; binary attachments go as they are (as socket.io's patch does).
          const frame = isBinary ? p : "4" + p;
          if (ws) ws.publish(topic, frame, isBinary);
          else this.app.publish(topic, frame, isBinary);
        }
      } catch {
        // uWS throws on a WebSocket that closed a moment ago (before anything was published): classic path,
        // which skips the closed sender by itself.
        if (this.stats) this.stats.classic++;
        return this.classic(adapter, packet, opts);
      }
      if (this.stats) {
        if (ws) this.stats.senderExcluded++;
        else this.stats.appWide++;
      }
      // HTTP long-polling members are not subscribed to uWS topics: they get the classic write.
      const flags = opts.flags ?? {};
      const writeOpts = { preEncoded: true, volatile: flags.volatile, compress: flags.compress };
      internals.apply(opts, (socket) => {
        if (socket.conn.transport.name !== "websocket") socket.client.writeToEngine(encoded, writeOpts);
      });
    };
    // Published from a socket (the case that suffers from the sender's cork) or behind queued ones: deferred.
    if (ws || this.queue.length > 0) this.later(publish);
    else publish();
  }

  private classicInOrder(adapter: Adapter, packet: BroadcastPacket, opts: BroadcastOptions): void {
    if (this.stats) this.stats.classic++;
    if (this.queue.length === 0) return this.classic(adapter, packet, opts);
    this.later(() => this.classic(adapter, packet, opts));
  }

  private later(publish: () => void): void {
    if (this.queue.length === 0) setImmediate(() => this.flush());
    this.queue.push(publish);
  }
}
