// Turns socket joins and leaves into `presence` events, once per transition cluster-wide:
// the store decides who saw the transition, this pod only emits it and runs the grace timers.
import type { GatewayServer } from "./session.js";
import type { PresenceStore } from "../cluster/types.js";
import type { Logger } from "../ops/logger.js";

export interface PresenceEvent {
  room: string;
  userId: string;
  status: "online" | "offline";
}

export class PresenceTracker {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly settling = new Set<Promise<void>>();
  private heartbeatTimer?: NodeJS.Timeout;

  constructor(
    private readonly store: PresenceStore,
    private readonly io: GatewayServer,
    private readonly graceMs: number,
    private readonly logger: Logger,
  ) {}

  /** Starts the TTL heartbeat that keeps this pod's entries alive and reaps crashed pods' entries. */
  startHeartbeat(intervalMs: number): void {
    this.heartbeatTimer = setInterval(() => {
      this.store.heartbeat().then(
        (orphans) => orphans.forEach(({ room, userId }) => this.scheduleOffline(room, userId)),
        (err: unknown) => this.logger.warn({ err }, "presence heartbeat failed"),
      );
    }, intervalMs);
    this.heartbeatTimer.unref();
  }

  async join(room: string, userId: string, socketId: string): Promise<void> {
    if (await this.store.join(room, userId, socketId)) this.emit({ room, userId, status: "online" });
  }

  async leave(room: string, userId: string, socketId: string): Promise<void> {
    if (await this.store.leave(room, userId, socketId)) this.scheduleOffline(room, userId);
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
  }

  private scheduleOffline(room: string, userId: string): void {
    const key = `${room}\u0000${userId}`;
    if (this.timers.has(key)) return;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      const p = this.store.settleOffline(room, userId).then(
        (offline) => {
          if (offline) this.emit({ room, userId, status: "offline" });
        },
        (err: unknown) => this.logger.warn({ err, room }, "presence settle failed; the TTL sweep will retry"),
      );
      this.settling.add(p);
      const done = () => void this.settling.delete(p);
      p.then(done, done);
    }, this.graceMs);
    this.timers.set(key, timer);
  }

  private emit(event: PresenceEvent): void {
    this.io.to(event.room).emit("presence", event);
  }
}
