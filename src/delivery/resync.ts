// After a fan-out interruption heals: replays to this pod's connected sockets every room and direct
// message stored meanwhile (from room history / the inbox), without closing any connection.
import type { Server } from "socket.io";
import type { Adapter } from "socket.io-adapter";
import { userRoom } from "../auth/room-access.js";
import { CANARY_ROOM_PREFIX } from "../cluster/redis/fanout-canary.js";
import type { FanoutInterruption } from "../cluster/fanout-health.js";
import type { ClusterServices, StoredMessage } from "../cluster/types.js";
import type { Logger } from "../ops/logger.js";
import { sessionOf } from "../protocol/session.js";
import type { DeliveredPositions, Position } from "./delivered-positions.js";

/** At most this many messages replayed per room or user: beyond it the client's own catch-up is cheaper. */
const MAX_PER_LOG = 5000;
/** Logs resynced at once: thousands of rooms must not become thousands of parallel Redis reads. */
const CONCURRENCY = 8;
/**
 * Messages carry the time the sending pod took before storing them; a store can take up to the Redis
 * operation timeout. Where no position is known, messages this much older than the interruption are
 * replayed too (the client drops what it has by id).
 */
const CLOCK_MARGIN_MS = 5000;

const USER_ROOM_PREFIX = userRoom("");

/** A stored message's position (epochs arrive with the store's log positions; until then seq alone). */
function positionOf(m: StoredMessage): Position {
  const epoch = (m as { epoch?: unknown }).epoch;
  return { seq: m.seq ?? 0, ...(typeof epoch === "string" ? { epoch } : {}) };
}

export interface ResyncFigures {
  rooms: number;
  users: number;
  replayed: number;
  durationMs: number;
}

/**
 * Guarantee: once run(interruption) resolves, every socket connected to this pod has been sent every
 * message of its rooms and its user's inbox that was stored after the last position this pod delivered
 * (for rooms with no position yet, and for direct messages, since the interruption began minus a clock
 * margin), in log order, as `message` events; nothing is closed. Messages the socket already has are
 * sent again: clients deduplicate by id. Bounded per log (MAX_PER_LOG) and in parallelism.
 */
export class Resync {
  private running?: Promise<unknown>;
  private again?: FanoutInterruption;

  constructor(
    private readonly io: Server,
    private readonly cluster: Pick<ClusterServices, "history" | "inbox">,
    private readonly positions: DeliveredPositions,
    private readonly logger: Logger,
  ) {}

  /** Follows the namespace adapter's rooms: a position is kept only while the room has local sockets. */
  track(adapter: Adapter): void {
    const isLog = (room: unknown): room is string => typeof room === "string" && !adapter.sids.has(room) && !room.startsWith(CANARY_ROOM_PREFIX);
    adapter.on("create-room", (room: unknown) => isLog(room) && this.positions.track(room));
    adapter.on("delete-room", (room: unknown) => typeof room === "string" && this.positions.forget(room));
  }

  /** Runs a resync; one at a time (a second interruption during one runs another right after). */
  request(interruption: FanoutInterruption): Promise<unknown> {
    if (this.running) {
      this.again = interruption;
      return this.running;
    }
    this.running = this.run(interruption)
      .catch((err: unknown) => this.logger.error({ err }, "resync failed; clients catch up on their next join or message:unacked"))
      .finally(() => {
        this.running = undefined;
        const next = this.again;
        this.again = undefined;
        if (next) void this.request(next);
      });
    return this.running;
  }

  async run(interruption: FanoutInterruption): Promise<ResyncFigures> {
    const started = Date.now();
    const floorTs = interruption.since - CLOCK_MARGIN_MS;
    const jobs: Array<() => Promise<number>> = [];
    let rooms = 0;
    let users = 0;
    for (const [room, { position }] of this.positions.rooms()) {
      if (room.startsWith(USER_ROOM_PREFIX)) {
        users++;
        jobs.push(() => this.replayInbox(room.slice(USER_ROOM_PREFIX.length), floorTs));
      } else {
        rooms++;
        jobs.push(() => this.replayRoom(room, position, floorTs));
      }
    }
    let replayed = 0;
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        try {
          replayed += await job();
        } catch (err) {
          this.logger.warn({ err }, "resync of one log failed; its clients catch up on their next join or message:unacked");
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, jobs.length) }, worker));
    const figures = { rooms, users, replayed, durationMs: Date.now() - started };
    this.logger.info({ ...figures, sinceInterruptionMs: Date.now() - interruption.since }, "resync after fan-out interruption done");
    return figures;
  }

  private async replayRoom(room: string, position: Position | undefined, floorTs: number): Promise<number> {
    let seq = position?.seq ?? 0;
    // A gap answer (trimmed, or more than the limit behind) moves the start to what is retained: twice at most.
    for (let attempt = 0; attempt < 3; attempt++) {
      const read = await this.cluster.history.since(room, seq, MAX_PER_LOG);
      if (!read.ok) {
        seq = Math.max(seq, read.oldestSeq - 1);
        continue;
      }
      const fresh = position ? read.messages : read.messages.filter((m) => m.ts >= floorTs);
      this.send(room, fresh);
      const last = read.messages[read.messages.length - 1];
      if (last?.seq !== undefined) this.positions.replayed(room, positionOf(last));
      return fresh.length;
    }
    return 0;
  }

  /** Direct messages: each local socket of the user gets what its device has not acknowledged, from the interruption on. */
  private async replayInbox(userId: string, floorTs: number): Promise<number> {
    let sent = 0;
    const sids = this.io.of("/").adapter.rooms.get(userRoom(userId));
    for (const sid of sids ?? []) {
      const socket = this.io.of("/").sockets.get(sid);
      if (!socket) continue;
      const messages = (await this.cluster.inbox.unacked(userId, sessionOf(socket).deviceId, MAX_PER_LOG)).filter((m) => m.ts >= floorTs);
      for (const m of messages) socket.emit("message", m);
      sent += messages.length;
    }
    return sent;
  }

  private send(room: string, messages: StoredMessage[]): void {
    // Local only: every pod resyncs its own sockets; nothing goes back through pub/sub.
    for (const m of messages) this.io.local.to(room).emit("message", m);
  }
}
