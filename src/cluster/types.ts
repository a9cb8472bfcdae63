// The seams between a pod and what pods share. Each interface has a memory implementation
// (embedded mode) and a Redis one (cluster mode); tests/contract runs one suite against both.
import type { FanoutHealth } from "./fanout-health.js";

/** A message as stored and as delivered to clients by the `message` event. */
export interface StoredMessage {
  /** Unique id: room messages `<room>:<seq>`, direct messages the inbox entry id. */
  id: string;
  /** Per-room sequence number (room messages only): strictly increasing, gaps mean trimmed or lost. */
  seq?: number;
  room?: string;
  /** Recipient user id (direct messages only). */
  to?: string;
  from: string;
  body: unknown;
  /** Milliseconds since the epoch, set when the message was stored. */
  ts: number;
  clientMsgId?: string;
}

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
   * Resolves the (room, user) pairs that lost their last socket this way: offline candidates.
   */
  heartbeat(): Promise<Array<{ room: string; userId: string }>>;
  close(): Promise<void>;
}

/**
 * Direct messages per user, acknowledged per device.
 * Guarantees: append resolves only once the message is stored; unacked returns, in append order, every
 * retained message the device has not acknowledged. Bounded by length and age; trimming is counted.
 * A device seen for the first time starts at the oldest retained message of its user.
 */
export interface Inbox {
  append(userId: string, message: Omit<StoredMessage, "id">): Promise<StoredMessage>;
  unacked(userId: string, deviceId: string, limit: number): Promise<StoredMessage[]>;
  /** Marks ids delivered for this device; resolves how many were newly acknowledged. */
  ack(userId: string, deviceId: string, ids: string[]): Promise<number>;
  close(): Promise<void>;
}

export type HistorySince = { ok: true; messages: StoredMessage[] } | { ok: false; oldestSeq: number };

/**
 * Room history for catch-up.
 * Guarantees: append assigns the next sequence number of the room atomically (cluster-wide), so seq is
 * strictly increasing per room; since() returns every retained message after seq, or a gap when the
 * history no longer reaches back to seq + 1.
 */
export interface RoomHistory {
  append(room: string, message: Omit<StoredMessage, "id" | "seq">): Promise<StoredMessage>;
  since(room: string, seq: number, limit: number): Promise<HistorySince>;
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

/** Everything shared between pods, built once by cluster/index.ts from the config. */
export interface ClusterServices {
  mode: "embedded" | "redis";
  presence: PresenceStore;
  inbox: Inbox;
  history: RoomHistory;
  idempotency: IdempotencyStore;
  /** Whether live cross-pod fan-out works end to end (the pub/sub canary in cluster mode). */
  fanout: FanoutHealth;
  /** True while the shared store answers (always true in embedded mode). */
  isHealthy(): boolean;
  close(): Promise<void>;
}
