// Per-address connection rate limiting: one token bucket per client address, refilled continuously.
// No timers: idle buckets are swept lazily, and the table is bounded so a spoofed-address flood
// cannot grow it without limit.

export interface AddressRateLimitOptions {
  /** Sustained new connections per second per address; 0 turns the limit off. */
  ratePerS: number;
  /** Connections an address may open at once before the rate applies. */
  burst: number;
  /** Most addresses tracked at once; past it the least recently refilled are forgotten. */
  maxAddresses?: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  last: number;
}

export class AddressRateLimit {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxAddresses: number;
  private readonly now: () => number;
  /** A bucket untouched for this long is full again: forgetting it changes nothing. */
  private readonly refillMs: number;
  private lastSweep: number;

  constructor(private readonly o: AddressRateLimitOptions) {
    this.maxAddresses = o.maxAddresses ?? 100_000;
    this.now = o.now ?? (() => performance.now());
    this.refillMs = o.ratePerS > 0 ? (o.burst / o.ratePerS) * 1000 : 0;
    this.lastSweep = this.now();
  }

  get enabled(): boolean {
    return this.o.ratePerS > 0;
  }

  /** Addresses currently tracked (for tests and soak checks). */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one connection token for `address`; false when that address is over its rate. */
  take(address: string): boolean {
    if (!this.enabled) return true;
    const t = this.now();
    this.sweep(t);
    let b = this.buckets.get(address);
    if (b) {
      b.tokens = Math.min(this.o.burst, b.tokens + ((t - b.last) / 1000) * this.o.ratePerS);
      b.last = t;
      // Re-insert so Map order stays "least recently seen first" for eviction.
      this.buckets.delete(address);
    } else {
      b = { tokens: this.o.burst, last: t };
      if (this.buckets.size >= this.maxAddresses) {
        const oldest = this.buckets.keys().next();
        if (!oldest.done) this.buckets.delete(oldest.value);
      }
    }
    this.buckets.set(address, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Drops buckets that have refilled completely; runs at most once per refill period. */
  private sweep(t: number): void {
    if (t - this.lastSweep < Math.max(1000, this.refillMs)) return;
    this.lastSweep = t;
    for (const [address, b] of this.buckets) {
      // Map order is least recently seen first: stop at the first bucket still refilling.
      if (t - b.last < this.refillMs) break;
      this.buckets.delete(address);
    }
  }
}
