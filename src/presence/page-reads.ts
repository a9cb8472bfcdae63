// Coalesced reads of one presence page: a join storm's answers share a few store reads instead of one each.
import type { PresencePage } from "../cluster/types.js";

interface Batch {
  promise: Promise<PresencePage>;
  start: () => void;
}

/**
 * Every caller gets a page read that was sent after it asked (so a join that entered the room before asking
 * sees itself and everyone before it), but callers arriving while a read of the same page is in flight share
 * the one next read instead of sending their own. In a storm of n joins into one room a pod sends a handful of
 * page reads instead of n: each costs the store O(page size) and the reply is the same for all of them, and n
 * of them queued at once are what made a busy Redis answer later than the per-operation deadline.
 */
export class PageReads {
  private readonly inflight = new Map<string, Promise<PresencePage>>();
  private readonly next = new Map<string, Batch>();

  constructor(private readonly read: (room: string, limit: number, after?: string) => Promise<PresencePage>) {}

  page(room: string, limit: number, after?: string): Promise<PresencePage> {
    const key = `${room}\u0000${limit}\u0000${after ?? ""}`;
    if (!this.inflight.has(key)) return this.send(key, room, limit, after);
    let batch = this.next.get(key);
    if (!batch) {
      let start!: () => void;
      const promise = new Promise<PresencePage>((resolve, reject) => {
        start = () => {
          this.next.delete(key);
          this.send(key, room, limit, after).then(resolve, reject);
        };
      });
      this.next.set(key, (batch = { promise, start }));
    }
    return batch.promise;
  }

  private send(key: string, room: string, limit: number, after?: string): Promise<PresencePage> {
    const p = this.read(room, limit, after);
    this.inflight.set(key, p);
    const done = () => {
      this.inflight.delete(key);
      this.next.get(key)?.start();
    };
    p.then(done, done);
    return p;
  }
}
