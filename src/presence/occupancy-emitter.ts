// Coalesces big-room count changes into `presence:occupancy`: at most one per room and interval, cluster-wide.
import type { GatewayServer } from "../protocol/session.js";
import type { PresenceStore } from "../cluster/types.js";
import type { Logger } from "../ops/logger.js";

interface RoomClaim {
  timer?: NodeJS.Timeout;
  inflight: boolean;
  /** A change arrived while a claim was in flight: claim once more after it. */
  again: boolean;
}

/**
 * The store decides who emits (claimOccupancy succeeds for one caller cluster-wide per interval), so members
 * get one event per interval however many pods see joins. This pod only asks when it saw a change, and again
 * when the store says the interval has not passed yet: a trailing claim carries the last count of a burst.
 */
export class OccupancyEmitter {
  private readonly rooms = new Map<string, RoomClaim>();
  private stopped = false;

  constructor(
    private readonly store: PresenceStore,
    private readonly io: GatewayServer,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  /** The room's counts changed on this pod while in (or when leaving) occupancy mode. */
  changed(room: string): void {
    if (this.stopped) return;
    let state = this.rooms.get(room);
    if (!state) this.rooms.set(room, (state = { inflight: false, again: false }));
    if (state.timer) return;
    if (state.inflight) {
      state.again = true;
      return;
    }
    this.claim(room, state);
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.rooms.values()) clearTimeout(s.timer);
    this.rooms.clear();
  }

  private claim(room: string, state: RoomClaim): void {
    state.inflight = true;
    state.again = false;
    this.store.claimOccupancy(room, this.intervalMs).then(
      (claim) => {
        state.inflight = false;
        if (claim.emit) this.io.to(room).emit("presence:occupancy", { room, users: claim.users, devices: claim.devices, mode: claim.mode });
        if (!claim.emit && claim.retryInMs !== undefined) this.later(room, state, claim.retryInMs);
        else if (state.again) this.claim(room, state);
        else this.rooms.delete(room);
      },
      (err: unknown) => {
        state.inflight = false;
        this.logger.warn({ err, room }, "occupancy claim failed; retrying after the interval");
        this.later(room, state, this.intervalMs);
      },
    );
  }

  private later(room: string, state: RoomClaim, ms: number): void {
    if (this.stopped) return;
    state.timer = setTimeout(
      () => {
        state.timer = undefined;
        this.claim(room, state);
      },
      Math.max(1, ms),
    );
    state.timer.unref();
  }
}
