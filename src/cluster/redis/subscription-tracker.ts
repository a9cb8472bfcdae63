// Remembers the SSUBSCRIBE the sharded Socket.IO adapter sends when a room gets its first local socket,
// until Redis confirms it: the adapter sends it without waiting, so a join would otherwise be answered
// while messages published to the room from other pods still go nowhere on this pod.
import type { RedisClient } from "./redis-ops.js";
import { storeDeadline } from "./store-deadline.js";

export class SubscriptionTracker {
  /**
   * Channel -> its latest SSUBSCRIBE while Redis has not confirmed it: in flight, or refused (kept, so a
   * later join of the same room is refused too, until the room is dropped: SUNSUBSCRIBE forgets it).
   */
  private readonly pending = new Map<string, Promise<unknown>>();

  /** Wraps `ssubscribe` / `sunsubscribe` on the subscriber client (after catchFireAndForget, whose promise it keeps). */
  constructor(client: RedisClient) {
    const target = client as unknown as Record<string, unknown>;
    const { ssubscribe, sunsubscribe } = target;
    if (typeof ssubscribe !== "function" || typeof sunsubscribe !== "function") return;
    target.ssubscribe = (...args: unknown[]): unknown => {
      const result = Reflect.apply(ssubscribe, client, args) as Promise<unknown>;
      const channels = channelsOf(args);
      for (const channel of channels) this.pending.set(channel, result);
      const confirmed = () => {
        for (const channel of channels) if (this.pending.get(channel) === result) this.pending.delete(channel);
      };
      result.then(confirmed, () => undefined);
      return result;
    };
    target.sunsubscribe = (...args: unknown[]): unknown => {
      for (const channel of channelsOf(args)) this.pending.delete(channel);
      return Reflect.apply(sunsubscribe, client, args);
    };
  }

  /**
   * Resolves once the channel's subscription is confirmed (at once when none is in flight); rejects
   * when Redis refuses it (e.g. an ACL without the channel) or has not answered within timeoutMs.
   */
  async confirmed(channel: string, timeoutMs: number): Promise<void> {
    const inFlight = this.pending.get(channel);
    if (!inFlight) return;
    // Stall-aware (store-deadline.ts): a join storm on a busy pod must not refuse joins whose SSUBSCRIBE Redis confirmed.
    await storeDeadline(inFlight, timeoutMs, () => new Error(`SSUBSCRIBE ${channel} not confirmed within ${timeoutMs} ms`));
  }
}

const channelsOf = (args: unknown[]): string[] =>
  args
    .flat()
    .filter((a): a is string | Buffer => typeof a === "string" || Buffer.isBuffer(a))
    .map(String);
