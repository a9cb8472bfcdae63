// Per-socket rate limiting: a token bucket refilled continuously, no timers to leak.
/** One shared clock: a default parameter closure would cost every socket its own function object. */
const monotonicMs = (): number => performance.now();

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
    private readonly now: () => number = monotonicMs,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token; false when the socket is over its rate. */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerS);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Takes `tokens` for work already done (a large answer): the balance may go negative, down to -burst,
   * so the following events are refused until it has refilled.
   */
  charge(tokens: number): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerS);
    this.last = t;
    this.tokens = Math.max(-this.burst, this.tokens - tokens);
  }
}
