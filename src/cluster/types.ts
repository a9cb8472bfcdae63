// The seams between a pod and what pods share. Each interface has a memory implementation
// (embedded mode) and a Redis one (cluster mode); tests/contract runs one suite against both.
import type { FleetLoad } from "./fleet-load.js";
import type { FanoutHealth } from "./fanout-health.js";
import type { KickStore } from "./kick-store.js";

import type { Server } from "socket.io";

/** A message as stored and as delivered to clients by the `message` event. */
export interface StoredMessage {
  /**
   * Unique id, also across epochs (a reset log never reuses an id a client has seen): room messages
   * `<room>:<epoch>:<seq>`, direct messages `<epoch>:<inbox entry>`. Opaque to clients.
   */
  id: string;
  /** Position in its log (the room's history or the recipient's inbox): increasing by 1 per message within an epoch. */
  seq: number;
  /** The log's epoch: chosen when the log is created, different after the log was lost, expired or reset. */
  epoch: string;
  room?: string;
  /** Recipient user id (direct messages only). */
  to?: string;
  from: string;
  body: unknown;
  /** Milliseconds since the epoch, set when the message was stored. */
  ts: number;
  clientMsgId?: string;
}

/** What a caller hands to append: the log assigns id, seq and epoch. */
export type NewMessage = Omit<StoredMessage, "id" | "seq" | "epoch">;

/** A position in one log: the last message a reader has (seq 0 = nothing yet). */
export interface LogPosition {
  epoch: string;
  seq: number;
}

/** A position as clients send it: a bare seq (no epoch) means "the log's current epoch". */
export interface ReadFrom {
  epoch?: string;
  seq: number;
}

export interface AppendOptions {
  /**
   * Scope-local idempotency key (e.g. `msg:<sender>:<clientMsgId>`). Recorded atomically with the append
   * (same script, same slot): a second append with the key within the TTL stores nothing and resolves
   * the first message with `duplicate: true`, whatever happened to the first caller's answer.
   */
  idempotencyKey?: string;
}

export interface AppendResult {
  message: StoredMessage;
  /** True when the key was seen before: nothing was stored; `message` is the first one (body from the log while retained). */
  duplicate: boolean;
}

/** Bounds of one read: at most maxMessages, and no more than maxBytes of serialised messages (at least one message). */
export interface ReadLimits {
  maxMessages: number;
  maxBytes: number;
}

/** Why a position cannot be continued from: the reader has to resync (see README, client rules). */
export interface HistoryGap {
  code: "HISTORY_GAP";
  /** epoch: the log was lost or reset since; ahead: seq is beyond the log; trimmed: the log no longer reaches back to seq + 1. */
  reason: "epoch" | "ahead" | "trimmed";
  /** The log's current epoch ("" when the log does not exist). */
  epoch: string;
  /** Oldest retained seq (lastSeq + 1 when nothing is retained). */
  oldestSeq: number;
  /** Newest seq of the current epoch (0 when the log does not exist). */
  lastSeq: number;
}

export type LogRead =
  | {
      ok: true;
      /** Messages after the position, in order, contiguous (seq + 1, seq + 2, ...). */
      messages: StoredMessage[];
      /** True when the limits cut the answer: read again from `next`. */
      more: boolean;
      /** Where the next read continues: the last returned message, or the position read from. */
      next: LogPosition;
    }
  | { ok: false; gap: HistoryGap };

export interface PresenceUser {
  userId: string;
  /** Connected sockets of this user in the room, counted on every pod (0 while inside the grace period). */
  devices: number;
}

/** How a room's members learn about presence: per-user events (small rooms) or occupancy counts (big rooms). */
export type PresenceMode = "full" | "occupancy";

/** Exact cluster-wide counts of one room: users online (grace period included) and their connected sockets. */
export interface RoomOccupancy {
  users: number;
  devices: number;
}

/** The room's state right after a join, leave or settle, read in the same atomic step. */
export interface PresenceChange extends RoomOccupancy {
  /** join: the user went online; leave: the user has no socket left (offline candidate); settle: now offline. */
  transition: boolean;
  mode: PresenceMode;
  /** The room is in (or just left) occupancy mode and its counts changed since the last occupancy claim. */
  occupancyDue: boolean;
  /**
   * How many times the room switched mode (0 for a new room; odd while in occupancy mode). Lets a full-mode
   * event exclude the members that joined in the next epoch, whom a late cross-pod delivery would reach.
   */
  modeEpoch: number;
}

/** One page of a room's user list, ordered by user id. */
export interface PresencePage {
  occupancy: RoomOccupancy;
  mode: PresenceMode;
  users: PresenceUser[];
  /** The last user id of this page when more users follow; absent on the last page. */
  after?: string;
}

/** Result of an occupancy claim: counts to emit, or how long until the interval allows the next one. */
export type OccupancyClaim = { emit: true; mode: PresenceMode; users: number; devices: number } | { emit: false; retryInMs?: number };

/** Size thresholds of the per-room mode, with hysteresis so a room at the boundary does not flap. */
export interface PresenceModeLimits {
  /** A room in full mode switches to occupancy when it has more users than this. */
  fullMaxUsers: number;
  /** A room in occupancy mode switches back to full at or below this many users (< fullMaxUsers). */
  fullResumeUsers: number;
}

/** One socket of a user in a room, as this pod knows it. */
export interface PresenceEntry {
  room: string;
  userId: string;
  socketKey: string;
}

/**
 * Who is in which room, cluster-wide.
 * Guarantees: join/settleOffline report each online/offline transition of a (room, user) to exactly one
 * caller cluster-wide, so `presence` events are emitted once per transition, not per device.
 * A user stays online while any of their sockets is in the room on any pod, and for the grace period after.
 * Counts and the room's mode are read in the same atomic step as the change, so they are exact cluster-wide
 * and every pod agrees on the mode (switching at fullMaxUsers up, fullResumeUsers down).
 * Every call does work bounded by its page size, never by the room size: counters, not whole-set reads.
 * Entries owned by a pod that stops heartbeating expire after the TTL (no ghosts after a crash).
 */
/** What one presence heartbeat found: see PresenceStore.heartbeat. */
export interface HeartbeatOutcome {
  orphans: Array<{ room: string; userId: string }>;
  recounted: string[];
}

export interface PresenceStore {
  /** Adds one socket of a user to a room; `transition` when this made the user go online there. */
  join(room: string, userId: string, socketKey: string): Promise<PresenceChange>;
  /** Removes one socket; `transition` when the user has no socket left in the room (offline candidate). */
  leave(room: string, userId: string, socketKey: string): Promise<PresenceChange>;
  /** Called after the grace period: `transition`, exactly once cluster-wide, when the user is still absent and now offline. */
  settleOffline(room: string, userId: string): Promise<PresenceChange>;
  /** Up to `limit` online users with a user id after `after` (from the start when absent), in user id order. */
  page(room: string, limit: number, after?: string): Promise<PresencePage>;
  /**
   * Claims the room's next `presence:occupancy` emission: `emit` for exactly one caller cluster-wide when the
   * counts changed since the last claim and at least `intervalMs` passed since it; otherwise how long to wait.
   */
  claimOccupancy(room: string, intervalMs: number): Promise<OccupancyClaim>;
  /**
   * Keeps this pod's entries alive and removes the entries of pods that stopped heartbeating.
   * Resolves the (room, user) pairs that lost their last socket this way (offline candidates) and the
   * occupancy-mode rooms whose counts it changed (due a `presence:occupancy`, which no join or leave triggers).
   */
  heartbeat(): Promise<HeartbeatOutcome>;
  close(): Promise<void>;
}

/**
 * Direct messages per user, acknowledged per device. Same position model as RoomHistory: every message
 * carries the inbox's `seq` and `epoch`.
 * Guarantees:
 * - append resolves only once the message is stored (and, with REDIS_ACK_REPLICAS > 0, on that many
 *   replicas; otherwise UNAVAILABLE, and a retry with the same idempotency key stores nothing twice);
 *   the idempotency record is written in the same atomic step.
 * - since(user, from, limits) is RoomHistory.since for the inbox: every retained message after `from`,
 *   in order, bounded, or a gap (epoch changed, ahead, trimmed). For resync; it ignores acknowledgements.
 * - unacked returns, in append order, the retained messages this device has not acknowledged, bounded
 *   by limits, with `more` / `nextCursor` to page (a cursor from another epoch starts from the beginning).
 * - Bounded by length and age (trimming is counted); an inbox whose messages all aged out is dropped and
 *   the next message starts a new epoch. A device seen for the first time starts at the oldest retained message.
 */
export interface Inbox {
  append(userId: string, message: NewMessage, options?: AppendOptions): Promise<AppendResult>;
  since(userId: string, from: ReadFrom, limits: ReadLimits): Promise<LogRead>;
  unacked(userId: string, deviceId: string, page: UnackedRequest): Promise<UnackedPage>;
  /** Marks ids delivered for this device; resolves how many were newly acknowledged (ids of other epochs count 0). */
  ack(userId: string, deviceId: string, ids: string[]): Promise<number>;
  close(): Promise<void>;
}

export interface UnackedRequest extends ReadLimits {
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export interface UnackedPage {
  messages: StoredMessage[];
  more: boolean;
  nextCursor?: string;
}

/**
 * Room history for catch-up and resync (the model is centrifuge's Broker history with epochs).
 * Guarantees:
 * - append assigns the room's next seq atomically cluster-wide: +1 per message within an epoch, no holes
 *   between the oldest retained message and the newest; it resolves only once stored (and, with
 *   REDIS_ACK_REPLICAS > 0, on that many replicas, else UNAVAILABLE). An idempotency key is recorded in the
 *   same atomic step: a retry with it stores nothing and resolves the first message.
 * - since(room, from, limits) returns the retained messages after `from` in order (at most limits; `more`
 *   and `next` to continue), or a gap whenever it cannot prove the reader misses nothing: `from.epoch`
 *   differs from the log's (and from.seq > 0), from.seq is ahead of the log, or the log no longer reaches
 *   back to from.seq + 1. Never an empty success in those cases.
 * - A log that was lost or reset (restart without persistence, FLUSHALL, expiry HISTORY_TTL_MS after its
 *   last message, a failover that lost appends this pod had acknowledged) starts a new epoch; ids contain
 *   the epoch, so they are never reused.
 */
export interface RoomHistory {
  append(room: string, message: NewMessage, options?: AppendOptions): Promise<AppendResult>;
  since(room: string, from: ReadFrom, limits: ReadLimits): Promise<LogRead>;
  close(): Promise<void>;
}

/**
 * Remembers the result of an operation under a key for a TTL, so a retried send or publish returns
 * the first result instead of being stored again.
 */
export interface IdempotencyStore {
  /** Resolves the stored result when the key was seen before, or runs `produce`, stores and returns its result. */
  once<T>(key: string, produce: () => Promise<T>): Promise<{ value: T; duplicate: boolean }>;
  close(): Promise<void>;
}

/** Socket.IO's seam for cross-pod fan-out: what `io.adapter()` takes (socket.io-adapter's in-memory one in embedded mode). */
export type AdapterFactory = NonNullable<Parameters<Server["adapter"]>[0]>;

/** Everything shared between pods, built once by cluster/index.ts from the config. */
export interface ClusterServices {
  mode: "embedded" | "redis";
  /** Fan-out between pods: the gateway installs it with io.adapter() before it listens. */
  adapter: AdapterFactory;
  presence: PresenceStore;
  inbox: Inbox;
  history: RoomHistory;
  idempotency: IdempotencyStore;
  /** When each user was last kicked by the backend: their older tokens are refused on every pod. */
  kicks: KickStore;
  /** Connection counts of the fleet (rebalancing). */
  fleetLoad: FleetLoad;
  /** Whether live cross-pod fan-out works end to end (the pub/sub canary in cluster mode). */
  fanout: FanoutHealth;
  /** True while the shared store answers (always true in embedded mode). */
  isHealthy(): boolean;
  close(): Promise<void>;
}
