// Embedded-mode kick records: one map, entries forgotten ttlMs after their kick (one process is the whole fleet).
import type { KickStore } from "../kick-store.js";

export class MemoryKicks implements KickStore {
  private readonly kicks = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    // Records are also checked on read; the sweep only bounds memory (one entry per kicked user, for ttlMs).
    this.sweeper = setInterval(() => this.sweep(), Math.min(ttlMs, 60_000));
    this.sweeper.unref();
  }

  async recordKick(userId: string, atMs: number): Promise<void> {
    const current = this.live(userId);
    if (current === undefined || atMs > current) this.kicks.set(userId, atMs);
  }

  async kickedAt(userId: string): Promise<number | undefined> {
    return this.live(userId);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.kicks.clear();
  }

  private live(userId: string): number | undefined {
    const at = this.kicks.get(userId);
    if (at === undefined) return undefined;
    if (at + this.ttlMs > this.now()) return at;
    this.kicks.delete(userId);
    return undefined;
  }

  private sweep(): void {
    const oldest = this.now() - this.ttlMs;
    for (const [userId, at] of this.kicks) if (at <= oldest) this.kicks.delete(userId);
  }
}
