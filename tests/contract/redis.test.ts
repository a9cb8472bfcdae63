// Runs every cluster-interface contract against the Redis implementations on a real redis-server;
// "pods" are separate instances with their own connection and pod id, sharing that server.
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll } from "vitest";
import { createRedisClients } from "../../src/cluster/redis/redis-clients.js";
import { RedisFleetLoad } from "../../src/cluster/redis/redis-fleet-load.js";
import { RedisHistory } from "../../src/cluster/redis/redis-history.js";
import { RedisIdempotency } from "../../src/cluster/redis/redis-idempotency.js";
import { RedisInbox } from "../../src/cluster/redis/redis-inbox.js";
import { RedisKicks } from "../../src/cluster/redis/redis-kicks.js";
import { RedisOps, type RedisClient } from "../../src/cluster/redis/redis-ops.js";
import { RedisPresence } from "../../src/cluster/redis/redis-presence.js";
import { presenceModeLimits } from "../../src/presence/limits.js";
import type { PresenceStore } from "../../src/cluster/types.js";
import { startRedis, stopAllRedis, waitFor, type RedisNode } from "../support/redis-harness.js";
import { fleetLoadContract } from "./fleet-load.contract.js";
import { idempotencyContract } from "./idempotency.contract.js";
import { inboxContract } from "./inbox.contract.js";
import { kickStoreContract } from "./kicks.contract.js";
import { logContract } from "./log.contract.js";
import { presenceContract } from "./presence.contract.js";

let redis: RedisNode;
const clients: RedisClient[] = [];
const stores: Array<{ close(): Promise<void> }> = [];
const crashed = new Set<PresenceStore>();

beforeAll(async () => {
  redis = await startRedis("contract");
});

afterEach(async () => {
  await Promise.all(
    stores
      .splice(0)
      .filter((s) => !crashed.has(s as PresenceStore))
      .map((s) => s.close()),
  );
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await stopAllRedis();
});

/** A fresh connection per instance, as each pod would have. */
async function connection(): Promise<RedisOps> {
  const { command, sub } = createRedisClients({ kind: "standalone", url: redis.url }, `test-${randomUUID().slice(0, 8)}`);
  sub.disconnect();
  clients.push(command);
  await waitFor("redis client ready", async () => command.status === "ready", 5000);
  return new RedisOps(command, { opTimeoutMs: 2500 });
}

function track<T extends { close(): Promise<void> }>(items: T[]): T[] {
  stores.push(...items);
  return items;
}

async function many<T extends { close(): Promise<void> }>(count: number, make: (ops: RedisOps) => T): Promise<T[]> {
  return track(await Promise.all(Array.from({ length: count }, async () => make(await connection()))));
}

presenceContract("redis", {
  expires: true,
  pods: (count, o) =>
    many(
      count,
      (ops) =>
        new RedisPresence(ops, {
          podId: `pod-${randomUUID().slice(0, 8)}`,
          ttlMs: o?.ttlMs ?? 15_000,
          graceMs: o?.graceMs ?? 2000,
          limits: o?.limits ?? presenceModeLimits(200),
        }),
    ),
  // kill -9: the instance stops heartbeating and is never closed (close would mark the pod gone at once).
  crash: (store) => void crashed.add(store),
});
inboxContract("redis", { create: (count, limits) => many(count, (ops) => new RedisInbox(ops, limits)) });
logContract("redis history", {
  create: (count, o) => many(count, (ops) => new RedisHistory(ops, { maxLength: o.maxLength, ttlMs: o.ttlMs, idempotencyTtlMs: o.idempotencyTtlMs })),
});
logContract("redis inbox", {
  create: (count, o) => many(count, (ops) => new RedisInbox(ops, { maxLength: o.maxLength, maxAgeMs: o.ttlMs, idempotencyTtlMs: o.idempotencyTtlMs })),
});
idempotencyContract("redis", { create: (count, ttlMs) => many(count, (ops) => new RedisIdempotency(ops, { ttlMs })) });
fleetLoadContract("redis", { create: (count, ttlMs) => many(count, (ops) => new RedisFleetLoad(ops, ttlMs)) });
kickStoreContract("redis", { create: (count, ttlMs) => many(count, (ops) => new RedisKicks(ops, ttlMs)) });
