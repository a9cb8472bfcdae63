// The one presence service handlers talk to: joins, leaves, pages, grace timers, heartbeats, big-room occupancy.
import type { GatewayServer } from "../protocol/session.js";
import type { PresenceChange, PresenceMode, PresencePage, PresenceStore, PresenceUser, RoomOccupancy } from "../cluster/types.js";
import type { GatewayConfig } from "../config.js";
import type { Logger } from "../ops/logger.js";
import { decodeCursor, encodeCursor } from "./cursor.js";
import { OccupancyEmitter } from "./occupancy-emitter.js";
import { lateJoinersRoom } from "./late-joiners.js";
import { PageReads } from "./page-reads.js";

export interface PresenceEvent {
  room: string;
  userId: string;
  status: "online" | "offline";
}

/** A page of a room's user list as clients see it (room:join, presence:get, GET /v1/presence/:room). */
export interface PresenceAnswer {
  occupancy: RoomOccupancy;
  mode: PresenceMode;
  users: PresenceUser[];
  /** Present (true) when more users follow: ask again with `nextCursor`. */
  more?: true;
  nextCursor?: string;
}

export interface PresenceServiceOptions {
  /** How long a user stays online after their last socket left (PRESENCE_GRACE_MS). */
  graceMs: number;
  /** Heartbeat of this pod's entries (the memory store has nothing to refresh and answers at once). */
  heartbeatMs: number;
  /** OCCUPANCY_INTERVAL_MS. */
  occupancyIntervalMs: number;
  /** Largest page of users (PRESENCE_FULL_MAX_USERS): room:join answers one such page. */
  pageSize: number;
}

/**
 * Turns socket joins and leaves into what members see: per-user `presence` events, once per transition
 * cluster-wide, in full-mode rooms; coalesced `presence:occupancy` counts in big rooms. The store decides
 * transitions, counts and the mode atomically; this pod emits and runs the grace and occupancy timers.
 * Every call costs a bounded number of store calls, each bounded by the page size.
 */
export class PresenceService {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly settling = new Set<Promise<void>>();
  private readonly occupancy: OccupancyEmitter;
  private readonly reads: PageReads;
  private heartbeatTimer?: NodeJS.Timeout;

  constructor(
    private readonly store: PresenceStore,
    private readonly io: GatewayServer,
    private readonly options: PresenceServiceOptions,
    private readonly logger: Logger,
  ) {
    this.occupancy = new OccupancyEmitter(store, io, options.occupancyIntervalMs, logger);
    this.reads = new PageReads((room, limit, after) => store.page(room, limit, after));
  }

  /** Starts the heartbeat that keeps this pod's entries alive and reaps crashed pods' entries. */
  start(): void {
    this.heartbeatTimer = setInterval(() => {
      this.store.heartbeat().then(
        ({ orphans, recounted }) => {
          orphans.forEach(({ room, userId }) => this.scheduleOffline(room, userId));
          // A crashed pod's entries expiring change a big room's counts without any join or leave.
          recounted.forEach((room) => this.occupancy.changed(room));
        },
        (err: unknown) => this.logger.warn({ err }, "presence heartbeat failed"),
      );
    }, this.options.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  /**
   * Adds a socket to a room's presence, then lets it into the room (`enterRoom`, e.g. socket.join), then
   * answers the room's counts and first page of users. In that order a join storm's `online` events reach
   * only the members already in (O(n) frames for n joins instead of O(n²)), and nobody is missed: a
   * transition before `enterRoom` is in the page read after it, a later one arrives as an event.
   * `enterRoom` runs even when the store fails, so the socket is in the room whatever the answer (as the
   * local entry is: the heartbeat writes it once the store is back). It gets the Socket.IO rooms to join: the
   * room, and for a join answered in occupancy mode also that epoch's late-joiner room (see `announce`).
   */
  async join(room: string, userId: string, socketId: string, enterRoom: (rooms: string[]) => Promise<void> | void): Promise<PresenceAnswer> {
    let change: PresenceChange | undefined;
    try {
      change = await this.store.join(room, userId, socketId);
    } finally {
      await enterRoom(change?.mode === "occupancy" ? [room, lateJoinersRoom(room, change.modeEpoch)] : [room]);
    }
    this.announce(room, change, { room, userId, status: "online" });
    return this.page(room);
  }

  async leave(room: string, userId: string, socketId: string): Promise<void> {
    const change = await this.store.leave(room, userId, socketId);
    if (change.occupancyDue) this.occupancy.changed(room);
    if (change.transition) this.scheduleOffline(room, userId);
  }

  /** One page of the room's users in user id order; `cursor` is a previous answer's `nextCursor`. */
  async page(room: string, cursor?: string, limit = this.options.pageSize): Promise<PresenceAnswer> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    return toAnswer(await this.reads.page(room, Math.min(limit, this.options.pageSize), after));
  }

  /** Resolves when every grace timer of this pod has fired and settled (used by the drain). */
  async settle(): Promise<void> {
    while (this.timers.size > 0 || this.settling.size > 0) {
      await Promise.allSettled([...this.settling]);
      if (this.timers.size > 0) await new Promise((r) => setTimeout(r, 50));
    }
  }

  stop(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.occupancy.stop();
  }

  /**
   * Per-user events in full mode only; in occupancy mode (or right after leaving it) the counts go out coalesced.
   * Other pods deliver a full-mode event later, to whoever is in the room then: in a join storm that is
   * everyone who joined after the switch to occupancy (n members x the ~PRESENCE_FULL_MAX_USERS events of the
   * full phase). The members answered in the next epoch joined its late-joiner room, which the event excludes
   * on every pod (Socket.IO applies `except` where it delivers).
   */
  private announce(room: string, change: PresenceChange, event: PresenceEvent): void {
    if (change.transition && change.mode === "full")
      this.io
        .to(room)
        .except(lateJoinersRoom(room, change.modeEpoch + 1))
        .emit("presence", event);
    if (change.occupancyDue) this.occupancy.changed(room);
  }

  private scheduleOffline(room: string, userId: string): void {
    const key = `${room}\u0000${userId}`;
    if (this.timers.has(key)) return;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      const p = this.store.settleOffline(room, userId).then(
        (change) => this.announce(room, change, { room, userId, status: "offline" }),
        (err: unknown) => this.logger.warn({ err, room }, "presence settle failed; the TTL sweep will retry"),
      );
      this.settling.add(p);
      const done = () => void this.settling.delete(p);
      p.then(done, done);
    }, this.options.graceMs);
    this.timers.set(key, timer);
  }
}

function toAnswer(page: PresencePage): PresenceAnswer {
  const answer: PresenceAnswer = { occupancy: page.occupancy, mode: page.mode, users: page.users };
  if (page.after !== undefined) {
    answer.more = true;
    answer.nextCursor = encodeCursor(page.after);
  }
  return answer;
}

/** The service's settings from the gateway config; the heartbeat runs three times per TTL. */
export function presenceServiceOptions(config: GatewayConfig): PresenceServiceOptions {
  return {
    graceMs: config.presenceGraceMs,
    heartbeatMs: Math.max(250, Math.floor(config.presenceTtlMs / 3)),
    occupancyIntervalMs: config.occupancyIntervalMs,
    pageSize: config.presenceFullMaxUsers,
  };
}
