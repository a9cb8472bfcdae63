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

/**
 * Who is in which room, cluster-wide.
 * Guarantees: join/settleOffline report each online/offline transition of a (room, user) to exactly one
 * caller cluster-wide, so `presence` events are emitted once per transition, not per device.
 * A user stays online while any of their sockets is in the room on any pod, and for the grace period after.
 * Entries owned by a pod that stops heartbeating expire after the TTL (no ghosts after a crash).
 */
export interface PresenceStore {
  /** Adds one socket of a user to a room. Resolves true when this made the user go online there. */
  join(room: string, userId: string, socketKey: string): Promise<boolean>;
  /** Removes one socket. Resolves true when the user has no socket left in the room (offline candidate). */
  leave(room: string, userId: string, socketKey: string): Promise<boolean>;
  /** Called after the grace period: true, exactly once cluster-wide, when the user is still absent and now offline. */
  settleOffline(room: string, userId: string): Promise<boolean>;
  /** The users online in a room with their socket counts. */
  list(room: string): Promise<PresenceUser[]>;
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
