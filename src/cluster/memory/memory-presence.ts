// Embedded-mode presence: one process is the whole cluster, so plain maps are authoritative.
import type { HeartbeatOutcome, OccupancyClaim, PresenceChange, PresenceMode, PresenceModeLimits, PresencePage, PresenceStore } from "../types.js";

interface UserState {
  sockets: Set<string>;
  /** Set while the user has no socket left: inside the grace period, not yet offline. */
  pending: boolean;
}

interface RoomState {
  users: Map<string, UserState>;
  /** Online user ids in code-unit order (what Redis ZRANGEBYLEX uses), for cursor paging by user id. */
  order: string[];
  devices: number;
  mode: PresenceMode;
  /** Counts changed (in occupancy mode, or the mode changed) since the last occupancy claim. */
  dirty: boolean;
  lastClaim: number;
  /** Mode switches so far (PresenceChange.modeEpoch). */
  modeEpoch: number;
}

/** Index of the first element greater than `id` (binary search: paging and inserts stay O(log n) comparisons). */
function upperBound(order: string[], id: string): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (order[mid]! <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class MemoryPresence implements PresenceStore {
  private readonly rooms = new Map<string, RoomState>();

  constructor(private readonly limits: PresenceModeLimits) {}

  async join(room: string, userId: string, socketKey: string): Promise<PresenceChange> {
    let state = this.rooms.get(room);
    if (!state) this.rooms.set(room, (state = { users: new Map(), order: [], devices: 0, mode: "full", dirty: false, lastClaim: 0, modeEpoch: 0 }));
    const before = this.counts(state);
    let user = state.users.get(userId);
    let transition = false;
    if (!user) {
      state.users.set(userId, (user = { sockets: new Set(), pending: false }));
      // An insert shifts the array (a memmove), which stays cheap next to the socket work of a join.
      state.order.splice(upperBound(state.order, userId), 0, userId);
      transition = true;
    }
    if (!user.sockets.has(socketKey)) {
      user.sockets.add(socketKey);
      state.devices++;
    }
    user.pending = false;
    return this.finish(room, state, transition, before);
  }

  async leave(room: string, userId: string, socketKey: string): Promise<PresenceChange> {
    const state = this.rooms.get(room);
    const user = state?.users.get(userId);
    if (!state || !user) return this.absent(state);
    const before = this.counts(state);
    if (user.sockets.delete(socketKey)) state.devices--;
    const empty = user.sockets.size === 0;
    if (empty) user.pending = true;
    return this.finish(room, state, empty, before);
  }

  async settleOffline(room: string, userId: string): Promise<PresenceChange> {
    const state = this.rooms.get(room);
    const user = state?.users.get(userId);
    if (!state || !user || !user.pending || user.sockets.size > 0) return this.absent(state);
    const before = this.counts(state);
    state.users.delete(userId);
    state.order.splice(upperBound(state.order, userId) - 1, 1);
    return this.finish(room, state, true, before);
  }

  async page(room: string, limit: number, after?: string): Promise<PresencePage> {
    const state = this.rooms.get(room);
    if (!state) return { occupancy: { users: 0, devices: 0 }, mode: "full", users: [] };
    const start = after === undefined ? 0 : upperBound(state.order, after);
    const ids = state.order.slice(start, start + limit);
    const more = start + limit < state.order.length;
    const page: PresencePage = {
      occupancy: this.counts(state),
      mode: state.mode,
      users: ids.map((id) => ({ userId: id, devices: state.users.get(id)!.sockets.size })),
    };
    if (more) page.after = ids[ids.length - 1];
    return page;
  }

  async claimOccupancy(room: string, intervalMs: number): Promise<OccupancyClaim> {
    const state = this.rooms.get(room);
    if (!state?.dirty) return { emit: false };
    const wait = state.lastClaim + intervalMs - Date.now();
    if (wait > 0) return { emit: false, retryInMs: wait };
    state.dirty = false;
    state.lastClaim = Date.now();
    return { emit: true, mode: state.mode, ...this.counts(state) };
  }

  /** Nothing to expire: a crashed embedded gateway takes its whole state with it. */
  async heartbeat(): Promise<HeartbeatOutcome> {
    return { orphans: [], recounted: [] };
  }

  async close(): Promise<void> {
    this.rooms.clear();
  }

  private counts(state: RoomState): { users: number; devices: number } {
    return { users: state.users.size, devices: state.devices };
  }

  private absent(state: RoomState | undefined): PresenceChange {
    if (!state) return { transition: false, mode: "full", users: 0, devices: 0, occupancyDue: false, modeEpoch: 0 };
    return { transition: false, mode: state.mode, ...this.counts(state), occupancyDue: state.dirty, modeEpoch: state.modeEpoch };
  }

  /** Applies the mode hysteresis and marks the counts for the next occupancy emission. */
  private finish(room: string, state: RoomState, transition: boolean, before: { users: number; devices: number }): PresenceChange {
    const { users, devices } = this.counts(state);
    const next: PresenceMode =
      state.mode === "full" && users > this.limits.fullMaxUsers
        ? "occupancy"
        : state.mode === "occupancy" && users <= this.limits.fullResumeUsers
          ? "full"
          : state.mode;
    if (next !== state.mode) {
      state.mode = next;
      state.dirty = true;
      state.modeEpoch++;
    } else if (next === "occupancy" && (users !== before.users || devices !== before.devices)) state.dirty = true;
    if (users === 0 && devices === 0 && state.mode === "full") {
      this.rooms.delete(room);
      return { transition, mode: "full", users, devices, occupancyDue: false, modeEpoch: 0 };
    }
    return { transition, mode: state.mode, users, devices, occupancyDue: state.dirty, modeEpoch: state.modeEpoch };
  }
}
