// Embedded-mode idempotency: remembers in-flight and finished results for a TTL.
import type { IdempotencyStore } from "../types.js";

interface Entry {
  value: Promise<unknown>;
  expires: number;
}

export class MemoryIdempotency implements IdempotencyStore {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    // Entries are also checked on read; the sweep only bounds memory.
    this.sweeper = setInterval(() => this.sweep(), Math.min(ttlMs, 60_000));
    this.sweeper.unref();
  }

  async once<T>(key: string, produce: () => Promise<T>): Promise<{ value: T; duplicate: boolean }> {
    const hit = this.entries.get(key);
    if (hit && hit.expires > this.now()) return { value: (await hit.value) as T, duplicate: true };
    const value = produce();
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
    try {
      return { value: await value, duplicate: false };
    } catch (err) {
      // A failed attempt must not be remembered: the retry has to run again.
      this.entries.delete(key);
      throw err;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, e] of this.entries) if (e.expires <= now) this.entries.delete(k);
  }
}
