// Log-bucketed latency histogram (1 % resolution, microseconds to minutes, fixed memory) and medians.
const LOG_STEP = Math.log(1.01);
const BUCKETS = 2400;

export class Histogram {
  constructor() {
    this.counts = new Float64Array(BUCKETS);
    this.n = 0;
    this.max = 0;
  }
  /** @param {number} us latency in microseconds */
  add(us) {
    const v = us < 1 ? 1 : us;
    let i = (Math.log(v) / LOG_STEP) | 0;
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.counts[i]++;
    this.n++;
    if (us > this.max) this.max = us;
  }
  /** Quantile in milliseconds (bucket upper edge), NaN when empty. */
  q(p) {
    if (this.n === 0) return NaN;
    const target = p * this.n;
    let acc = 0;
    for (let i = 0; i < BUCKETS; i++) {
      acc += this.counts[i];
      if (acc >= target) return Math.exp((i + 1) * LOG_STEP) / 1000;
    }
    return this.max / 1000;
  }
  summary() {
    return { samples: this.n, p50: round(this.q(0.5)), p99: round(this.q(0.99)), max: round(this.max / 1000) };
  }
}

export function round(x, digits = 2) {
  if (!Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function median(xs) {
  const v = xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
