// Embedded-mode fleet load: one map, expiring entries by this process's clock (one process is the whole fleet).
import type { FleetLoad, PodLoad } from "../fleet-load.js";

export class MemoryFleetLoad implements FleetLoad {
  private readonly pods = new Map<string, { load: PodLoad; expiresAt: number }>();

  constructor(
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async publish(load: PodLoad): Promise<void> {
    this.pods.set(load.podId, { load: { ...load }, expiresAt: this.now() + this.ttlMs });
  }

  async list(): Promise<PodLoad[]> {
    const now = this.now();
    const out: PodLoad[] = [];
    for (const [podId, entry] of this.pods) {
      if (entry.expiresAt <= now) this.pods.delete(podId);
      else out.push({ ...entry.load });
    }
    return out;
  }

  async remove(podId: string): Promise<void> {
    this.pods.delete(podId);
  }

  private readonly claims = new Map<string, number>();

  async claimUser(userId: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    // Expired claims go first (insertion order = time order for equal TTLs): the map stays bounded.
    for (const [u, until] of this.claims) {
      if (until > now) break;
      this.claims.delete(u);
    }
    const until = this.claims.get(userId);
    if (until !== undefined && until > now) return false;
    this.claims.delete(userId);
    this.claims.set(userId, now + ttlMs);
    return true;
  }

  async close(): Promise<void> {
    this.pods.clear();
    this.claims.clear();
  }
}
