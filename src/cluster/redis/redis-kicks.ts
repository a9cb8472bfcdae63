// Cluster-mode kick records: one key per kicked user, holding the kick time, expiring KICK_TTL_MS after it.
import type { KickStore } from "../kick-store.js";
import { kickKey } from "./keys.js";
import { asNumber, LuaScript, type RedisOps } from "./redis-ops.js";

// KEYS: key. ARGV: atMs, ttlMs. Keeps the latest kick: an earlier time (a slow pod's clock, a late retry)
// never replaces a later one, nor shortens its life.
const RECORD = new LuaScript(
  "kicks.record",
  `local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1`,
);

export class RedisKicks implements KickStore {
  constructor(
    private readonly ops: RedisOps,
    private readonly ttlMs: number,
  ) {}

  async recordKick(userId: string, atMs: number): Promise<void> {
    // The key lives ttlMs from the kick, not from now: a retried record of an old kick does not extend it.
    const ttl = Math.max(1, atMs + this.ttlMs - Date.now());
    await this.ops.eval(RECORD, [kickKey(userId)], [Math.floor(atMs), Math.floor(ttl)]);
  }

  async kickedAt(userId: string): Promise<number | undefined> {
    const value = await this.ops.run("kicks.read", (c) => c.get(kickKey(userId)));
    return value === null ? undefined : asNumber(value);
  }

  /** The connection belongs to the service factory, which closes it. */
  async close(): Promise<void> {}
}
