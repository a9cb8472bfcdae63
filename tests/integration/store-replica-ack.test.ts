// REDIS_ACK_REPLICAS without enough replicas: standalone and Redis Cluster (WAIT on the slot owner's
// connection) answer UNAVAILABLE naming the replica count; the message is stored once, and retries with
// the same key never add a copy. With the replica present (Sentinel group) the same append succeeds.
import { afterAll, describe, expect, it } from "vitest";
import type { ClusterServices } from "../../src/cluster/types.js";
import { GatewayError } from "../../src/errors.js";
import { startRedis, startRedisCluster, startSentinelGroup, startServices, stopAllRedis, type ServicesUnderTest } from "../support/redis-harness.js";

const open: ServicesUnderTest[] = [];
afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
  await stopAllRedis();
});

const wide = { maxMessages: 100, maxBytes: 1 << 20 };

async function refusal(op: () => Promise<unknown>): Promise<{ code: string; message: string } | undefined> {
  try {
    await op();
    return undefined;
  } catch (err) {
    return err instanceof GatewayError ? { code: err.code, message: err.message } : { code: "OTHER", message: String(err) };
  }
}

async function storedOnceButUnconfirmed(services: ClusterServices, room: string, user: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await refusal(() => services.history.append(room, { from: "a", body: "x", ts: Date.now() }, { idempotencyKey: "k1" }));
    expect(r).toMatchObject({ code: "UNAVAILABLE", message: expect.stringContaining("0 of 1 replicas") });
    const d = await refusal(() => services.inbox.append(user, { from: "a", to: user, body: "y", ts: Date.now() }, { idempotencyKey: "k1" }));
    expect(d).toMatchObject({ code: "UNAVAILABLE", message: expect.stringContaining("0 of 1 replicas") });
  }
  const history = await services.history.since(room, { seq: 0 }, wide);
  expect(history.ok && history.messages.map((m) => m.body)).toEqual(["x"]);
  const inbox = await services.inbox.since(user, { seq: 0 }, wide);
  expect(inbox.ok && inbox.messages.map((m) => m.body)).toEqual(["y"]);
}

describe("REDIS_ACK_REPLICAS=1", () => {
  it("standalone without a replica: UNAVAILABLE, stored once whatever the retries", async () => {
    const redis = await startRedis("ack-standalone");
    const svc = await startServices({ kind: "standalone", url: redis.url }, { REDIS_ACK_REPLICAS: "1" });
    open.push(svc);
    await storedOnceButUnconfirmed(svc.services, "ack-room", "ack-user");
  }, 30_000);

  it("Redis Cluster without replicas: WAIT runs on each slot owner, UNAVAILABLE, stored once", async () => {
    const cluster = await startRedisCluster();
    const svc = await startServices({ kind: "cluster", nodes: cluster.seeds }, { REDIS_ACK_REPLICAS: "1" });
    open.push(svc);
    // Rooms on different slots, so more than one master's connection is asked.
    for (const room of ["ack-a", "ack-b"]) await storedOnceButUnconfirmed(svc.services, room, `${room}-user`);
  }, 60_000);

  it("with one replica in sync: acknowledged", async () => {
    const group = await startSentinelGroup({ replicas: 1, sentinels: 1 });
    const svc = await startServices({ kind: "sentinel", sentinels: group.sentinels, name: group.name }, { REDIS_ACK_REPLICAS: "1" });
    open.push(svc);
    const first = await svc.services.history.append("ack-ok", { from: "a", body: 1, ts: Date.now() }, { idempotencyKey: "k" });
    const again = await svc.services.history.append("ack-ok", { from: "a", body: 1, ts: Date.now() }, { idempotencyKey: "k" });
    expect([first.duplicate, again.duplicate, again.message.id]).toEqual([false, true, first.message.id]);
  }, 60_000);
});
