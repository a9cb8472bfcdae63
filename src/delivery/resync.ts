// After a fan-out interruption heals: replays to this pod's connected sockets every room and direct
// message stored meanwhile (from room history / the inbox), without closing any connection.
import type { Adapter } from "socket.io-adapter";
import { userRoom } from "../auth/room-access.js";
import { CANARY_ROOM_PREFIX } from "../cluster/redis/fanout-canary.js";
import type { FanoutInterruption } from "../cluster/fanout-health.js";
import type { ClusterServices, ReadFrom, ReadLimits, StoredMessage } from "../cluster/types.js";
import type { Logger } from "../ops/logger.js";
import { isLateJoinersRoom } from "../presence/late-joiners.js";
import type { GatewayServer } from "../protocol/session.js";
import type { DeliveredPositions, Position } from "./delivered-positions.js";

/** One read: at most this much (the answer bound clients get too). */
const LIMITS: ReadLimits = { maxMessages: 500, maxBytes: 1 << 20 };
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

export interface ResyncFigures {
  rooms: number;
  users: number;
  replayed: number;
  durationMs: number;
}

/**
 * Guarantee: once run(interruption) resolves, every socket connected to this pod has been sent every
 * message of its rooms and its user's inbox that was stored after the last position this pod delivered
 * without a hole (for a log with no position yet: stored since the interruption began, minus a clock
 * margin), in log order, as `message` events; nothing is closed. Messages the socket already has are
 * sent again: clients deduplicate by id. Bounded per log (MAX_PER_LOG) and in parallelism.
 */
export class Resync {
  private running?: Promise<unknown>;
  private again?: FanoutInterruption;

  constructor(
    private readonly io: GatewayServer,
    private readonly cluster: Pick<ClusterServices, "history" | "inbox">,
    private readonly positions: DeliveredPositions,
    private readonly logger: Logger,
  ) {}

  /** Follows the namespace adapter's rooms: a position is kept only while the room has local sockets. */
  track(adapter: Adapter): void {
    // Presence's late-joiner rooms (presence-service.ts) are bookkeeping of a client room, not rooms with a log.
    const isLog = (room: unknown): room is string =>
      typeof room === "string" && !adapter.sids.has(room) && !room.startsWith(CANARY_ROOM_PREFIX) && !isLateJoinersRoom(room);
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
    for (const [room, { position }] of this.positions.rooms(floorTs)) {
      if (room.startsWith(USER_ROOM_PREFIX)) {
        users++;
        jobs.push(() => this.replay(room, position, floorTs));
      } else {
        rooms++;
        jobs.push(() => this.replay(room, position, floorTs));
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

  /**
   * Replays one log (a room's history, or a user's inbox for `#u:<user>`) from `position` to its end.
   * With no position yet, from the start of what is retained, keeping only messages stored after
   * `floorTs`. A gap (the log was reset or trimmed) moves the start to what the log still has.
   */
  private async replay(room: string, position: Position | undefined, floorTs: number): Promise<number> {
    const user = room.startsWith(USER_ROOM_PREFIX) ? room.slice(USER_ROOM_PREFIX.length) : undefined;
    const read = (from: ReadFrom) => (user !== undefined ? this.cluster.inbox.since(user, from, LIMITS) : this.cluster.history.since(room, from, LIMITS));
    let from: ReadFrom = position ?? { seq: 0 };
    let filter = position === undefined;
    let sent = 0;
    for (let calls = 0; sent < MAX_PER_LOG && calls < MAX_PER_LOG / LIMITS.maxMessages + 3; calls++) {
      const answer = await read(from);
      if (!answer.ok) {
        const { gap } = answer;
        if (gap.reason === "ahead") return sent; // nothing stored after what this pod delivered
        // A new epoch is a new log: all of it is new to this pod. Trimmed: continue from the oldest retained.
        from = gap.reason === "epoch" ? { epoch: gap.epoch, seq: 0 } : { epoch: gap.epoch, seq: gap.oldestSeq - 1 };
        if (gap.reason === "epoch") filter = false;
        continue;
      }
      const fresh = filter ? answer.messages.filter((m) => m.ts >= floorTs) : answer.messages;
      this.send(room, fresh);
      sent += fresh.length;
      from = answer.next;
      this.positions.replayed(room, answer.next);
      if (!answer.more) break;
    }
    return sent;
  }

  private send(room: string, messages: StoredMessage[]): void {
    // Local only: every pod resyncs its own sockets; nothing goes back through pub/sub.
    for (const m of messages) this.io.local.to(room).emit("message", m);
  }
}
