// createRedisServices against each way of reaching Redis: standalone, Sentinel and a 3-master Redis Cluster.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RedisConfig } from "../../src/config.js";
import {
  adapterDelivers,
  gaugeValue,
  startRedis,
  startRedisCluster,
  startSentinel,
  startServices,
  stopAllRedis,
  type ClusterSetup,
  type RedisNode,
  type SentinelSetup,
  type ServicesUnderTest,
} from "../support/redis-harness.js";

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
const opened: ServicesUnderTest[] = [];

let standalone: RedisNode;
let sentinel: SentinelSetup;
let cluster: ClusterSetup;

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  [standalone, sentinel, cluster] = await Promise.all([startRedis("modes"), startSentinel(), startRedisCluster()]);
});

afterAll(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
  await stopAllRedis();
  process.off("unhandledRejection", onUnhandled);
  expect(unhandled).toEqual([]);
});

async function pair(redis: RedisConfig): Promise<[ServicesUnderTest, ServicesUnderTest]> {
  const env = { PRESENCE_TTL_MS: "1000" };
  const both = await Promise.all([startServices(redis, env), startServices(redis, env)]);
  opened.push(...both);
  return both;
}

/** The same checks for every mode: many rooms and users, so on a cluster keys land on every master. */
async function exercise(a: ServicesUnderTest, b: ServicesUnderTest): Promise<void> {
  expect(a.services.mode).toBe("redis");
  expect(a.services.isHealthy()).toBe(true);
  expect(await gaugeValue(a.metrics, "socketgate_redis_up")).toBe(1);
  const rooms = Array.from({ length: 12 }, (_, i) => `mode-room-${i}-${Date.now()}`);
  for (const room of rooms) {
    const went = await Promise.all([a.services.presence.join(room, "alice", "s1"), b.services.presence.join(room, "alice", "s2")]);
    expect(went.filter((c) => c.transition)).toHaveLength(1);
    expect((await b.services.presence.page(room, 10)).users).toEqual([{ userId: "alice", devices: 2 }]);
    const first = (await a.services.history.append(room, { from: "alice", body: room, ts: Date.now() })).message;
    const second = (await b.services.history.append(room, { from: "alice", body: "2", ts: Date.now() })).message;
    expect([first.seq, second.seq]).toEqual([1, 2]);
    expect(await a.services.history.since(room, { seq: 0 }, { maxMessages: 10, maxBytes: 1 << 20 })).toEqual({
      ok: true,
      messages: [first, second],
      more: false,
      next: { epoch: first.epoch, seq: 2 },
    });
  }
  expect(await a.services.presence.heartbeat()).toEqual({ orphans: [], recounted: [] });
  for (const user of ["u1", "u2", "u3", "u4", "u5", "u6"]) {
    const dm = (await a.services.inbox.append(user, { to: user, from: "alice", body: "hi", ts: Date.now() })).message;
    expect((await b.services.inbox.unacked(user, "phone", { maxMessages: 10, maxBytes: 1 << 20 })).messages).toEqual([dm]);
    expect(await b.services.inbox.ack(user, "phone", [dm.id])).toBe(1);
    expect((await a.services.inbox.unacked(user, "phone", { maxMessages: 10, maxBytes: 1 << 20 })).messages).toEqual([]);
    const results = await Promise.all([a, b].map((s) => s.services.idempotency.once(`msg:${user}`, async () => ({ id: user }))));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
  }
  await adapterDelivers(a, b, `a->b-${Date.now()}`);
  await adapterDelivers(b, a, `b->a-${Date.now()}`);
}

describe("createRedisServices", () => {
  it("standalone: classic adapter, every service works across two pods", async () => {
    const [a, b] = await pair({ kind: "standalone", url: standalone.url });
    expect(a.io.of("/").adapter.constructor.name).toBe("RedisAdapter");
    await exercise(a, b);
  });

  it("Sentinel: finds the master through the sentinel; classic adapter", async () => {
    const [a, b] = await pair({ kind: "sentinel", sentinels: sentinel.sentinels, name: sentinel.name });
    expect(a.io.of("/").adapter.constructor.name).toBe("RedisAdapter");
    await exercise(a, b);
    // The commands really went to the monitored master.
    expect(await sentinel.master.cli("dbsize")).not.toMatch(/^0\s*$/);
  });

  it("Redis Cluster: sharded adapter (SPUBLISH/SSUBSCRIBE), multi-key scripts on one slot per room/user", async () => {
    const [a, b] = await pair({ kind: "cluster", nodes: cluster.seeds });
    expect(a.io.of("/").adapter.constructor.name).toBe("ShardedRedisAdapter");
    await exercise(a, b);
    // Keys are spread over the masters (hash tags per room/user, not one global slot).
    const sizes = await Promise.all(cluster.nodes.map(async (n) => Number((await n.cli("dbsize")).trim())));
    expect(sizes.filter((s) => s > 0).length).toBeGreaterThanOrEqual(2);
  });
});
