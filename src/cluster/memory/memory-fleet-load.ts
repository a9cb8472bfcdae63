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

  async close(): Promise<void> {
    this.pods.clear();
  }
}
