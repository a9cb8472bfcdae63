// Cluster-mode idempotency: the first caller of a key claims it in Redis, later callers get its result.
//
// A key holds `P:<token>` while its first attempt runs (short TTL, so a crashed pod's claim does not block
// retries for long) and `D:<JSON>` once it finished (idempotencyTtlMs). A duplicate arriving meanwhile
// polls, for a bounded time, until the result appears; a failed attempt deletes its claim (only its own),
// so the next retry runs again. Concurrent duplicates on one pod share the first promise without polling.
// Results must be JSON-serialisable (they are: stored messages and publish answers).
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { GatewayError } from "../../errors.js";
import type { IdempotencyStore } from "../types.js";
import { idempotencyKey } from "./keys.js";
import { asString, LuaScript, type RedisOps } from "./redis-ops.js";

// KEYS: key. ARGV: claim, pendingTtlMs. Returns nil when claimed, else the current value.
const CLAIM = new LuaScript(
  "idempotency.claim",
  `local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`,
);

// KEYS: key. ARGV: claim. Deletes the claim only if it is still ours.
const RELEASE = new LuaScript(
  "idempotency.release",
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
);

export interface RedisIdempotencyOptions {
  ttlMs: number;
  /** How long a claim protects an attempt that has not finished (a crashed pod's claim lapses after it). */
  pendingTtlMs?: number;
  /** How long a duplicate waits for the first attempt before answering UNAVAILABLE. */
  waitMs?: number;
}

const noop = (): void => {};

export class RedisIdempotency implements IdempotencyStore {
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly pendingTtlMs: number;
  private readonly waitMs: number;

  constructor(
    private readonly ops: RedisOps,
    private readonly options: RedisIdempotencyOptions,
  ) {
    this.pendingTtlMs = Math.min(options.ttlMs, options.pendingTtlMs ?? 30_000);
    this.waitMs = options.waitMs ?? 10_000;
  }

  async once<T>(key: string, produce: () => Promise<T>): Promise<{ value: T; duplicate: boolean }> {
    const local = this.inflight.get(key);
    if (local) return { value: (await local) as T, duplicate: true };
    const attempt = this.claimOrWait(key, produce);
    const value = attempt.then((r) => r.value);
    value.catch(noop);
    this.inflight.set(key, value);
    try {
      return await attempt;
    } finally {
      if (this.inflight.get(key) === value) this.inflight.delete(key);
    }
  }

  /** The connection belongs to the service factory, which closes it. */
  async close(): Promise<void> {
    this.inflight.clear();
  }

  private async claimOrWait<T>(key: string, produce: () => Promise<T>): Promise<{ value: T; duplicate: boolean }> {
    const rkey = idempotencyKey(key);
    const claim = `P:${randomUUID()}`;
    const deadline = Date.now() + this.waitMs;
    let pause = 10;
    for (;;) {
      const current = await this.ops.eval(CLAIM, [rkey], [claim, this.pendingTtlMs]);
      if (current === null || current === undefined) return { value: await this.attempt(rkey, claim, produce), duplicate: false };
      const text = asString(current);
      if (text.startsWith("D:")) return { value: (JSON.parse(text.slice(2)) as { v: T }).v, duplicate: true };
      if (Date.now() + pause > deadline) throw new GatewayError("UNAVAILABLE", "a request with the same idempotency key is still being processed: retry later");
      await sleep(pause);
      pause = Math.min(pause * 2, 200);
    }
  }

  private async attempt<T>(rkey: string, claim: string, produce: () => Promise<T>): Promise<T> {
    let value: T;
    try {
      value = await produce();
    } catch (err) {
      // Forget the failed attempt so a retry runs again; if Redis is down the claim lapses by itself.
      await this.ops.eval(RELEASE, [rkey], [claim]).catch(noop);
      throw err;
    }
    // The work is done: if remembering it fails, answer anyway (a later retry may then run once more).
    await this.ops.run("idempotency.store", (c) => c.set(rkey, `D:${JSON.stringify({ v: value })}`, "PX", this.options.ttlMs)).catch(noop);
    return value;
  }
}
