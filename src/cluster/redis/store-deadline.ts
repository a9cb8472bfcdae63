// Deadlines that time the store, not this process: event-loop stalls do not count, and a reply already received is read first.
//
// Why: Node runs expired timers before it polls sockets. After any stall of this process longer than a deadline
// (CPU starvation, a long GC, a burst of synchronous work, a container at its CPU quota), a plain setTimeout
// deadline fires before the reply that Redis sent in a millisecond is read, so every operation in flight fails
// at once although the store answered. Measured on 3 pods + Redis: a 3 s pause of one pod during a 300-member
// join storm answered 58–82 of its 100 joins UNAVAILABLE while Redis held every one of their entries.
import { performance } from "node:perf_hooks";

/** The loop is sampled this often; a sample later than this by more is counted as stalled time. */
const SAMPLE_MS = 50;

/** Milliseconds this process' event loop could not run since it started sampling (lazily, on the first deadline). */
class LoopStallClock {
  private stalledMs = 0;
  private last = 0;
  private timer?: NodeJS.Timeout;

  /** Total stalled time so far, the stall in progress (a sample not run yet) included. */
  stalled(): number {
    this.start();
    return this.stalledMs + Math.max(0, performance.now() - this.last - SAMPLE_MS);
  }

  private start(): void {
    if (this.timer) return;
    this.last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      this.stalledMs += Math.max(0, now - this.last - SAMPLE_MS);
      this.last = now;
    }, SAMPLE_MS);
    this.timer.unref();
  }
}

const clock = new LoopStallClock();

/**
 * Settles like `work`, or rejects with `expired()` once `work` has had `ms` of this process' responsive time
 * without settling. Before rejecting it yields once to I/O (setImmediate runs after the poll phase), so a reply
 * that arrived while the loop was busy wins over the deadline; time the loop was stalled extends the deadline.
 * A store that really does not answer (down, frozen, partitioned) still fails after `ms` on a responsive pod.
 */
export function storeDeadline<T>(work: Promise<T>, ms: number, expired: () => Error): Promise<T> {
  const started = performance.now();
  const stalledAtStart = clock.stalled();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const check = () =>
      setImmediate(() => {
        if (settled) return;
        const responsiveMs = performance.now() - started - (clock.stalled() - stalledAtStart);
        if (responsiveMs < ms) {
          timer = setTimeout(check, Math.max(1, ms - responsiveMs));
          return;
        }
        settled = true;
        reject(expired());
      });
    timer = setTimeout(check, ms);
    work.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
