// Gateways reach Redis through Sentinel and through a 3-master Redis Cluster (sharded adapter):
// cross-pod delivery, shared history and presence work the same way in both.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, nextEvent } from "../support/clients.js";
import { startGateways } from "../support/gateway-cluster.js";
import type { GatewayProcess } from "../support/gateway-process.js";
import { startRedisCluster, startSentinel, stopAllRedis } from "../support/redis-harness.js";
import { signToken } from "../support/tokens.js";

let pods: GatewayProcess[] = [];
afterEach(async () => {
  closeAll();
  await Promise.all(pods.map((p) => p.stop()));
  pods = [];
});
afterAll(async () => {
  await stopAllRedis();
});

async function crossPodRoundTrip(): Promise<void> {
  const [a, b] = pods as [GatewayProcess, GatewayProcess];
  const s1 = await connected(client(a.url, { token: await signToken("topo-1") }));
  const s2 = await connected(client(b.url, { token: await signToken("topo-2") }));
  await ask(s1, "room:join", { room: "topo" });
  expect(await ask(s2, "room:join", { room: "topo" })).toMatchObject({ ok: true, users: expect.arrayContaining([{ userId: "topo-1", devices: 1 }]) });
  const got = nextEvent<{ seq: number }>(s2, "message");
  expect(await ask(s1, "message:send", { room: "topo", body: 1 })).toMatchObject({ ok: true, seq: 1 });
  expect((await got).seq).toBe(1);
  const dm = nextEvent(s1, "message");
  expect(await ask(s2, "message:send", { to: "topo-1", body: "dm" })).toMatchObject({ ok: true });
  expect(await dm).toMatchObject({ body: "dm", from: "topo-2" });
}

describe("Redis topologies", () => {
  it("works through Sentinel", async () => {
    const s = await startSentinel();
    pods = await startGateways(2, { REDIS_SENTINELS: s.sentinels.map((x) => `${x.host}:${x.port}`).join(","), REDIS_SENTINEL_NAME: s.name });
    await crossPodRoundTrip();
  }, 60_000);

  it("works on a 3-master Redis Cluster with the sharded adapter", async () => {
    const c = await startRedisCluster();
    pods = await startGateways(2, { REDIS_CLUSTER_NODES: c.seeds.map((x) => `${x.host}:${x.port}`).join(",") });
    const started = pods[0]!.logs.find((l) => l.msg === "redis reachable");
    expect(started?.adapter).toBe("sharded");
    await crossPodRoundTrip();
  }, 90_000);
});
