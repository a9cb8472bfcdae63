// Fan-out health and resync against real Redis, real gateways, real socket.io-clients: a subscriber
// killed (CLIENT KILL TYPE pubsub) or silently wedged mid-stream is detected, reported (fanout_healthy,
// /readyz), rebuilt, and connected clients end with every acknowledged room and direct message
// without reconnecting. Figures (detection, replayed, duplicates, full resync) are printed.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, sleep, type Client } from "../support/clients.js";
import { readyStatus } from "../support/gateway-cluster.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";
import { startRedis, startRedisCluster, stopAllRedis, waitFor, type RedisNode } from "../support/redis-harness.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { signToken } from "../support/tokens.js";

let redis: RedisNode;
let proxy: TcpProxy;
/** Reaches Redis through the proxy (so its subscriber can be wedged); the sender's pod goes direct. */
let readerPod: GatewayProcess;
let senderPod: GatewayProcess;

beforeAll(async () => {
  redis = await startRedis();
  proxy = await startTcpProxy(redis.port);
  const env = { RATE_LIMIT_EVENTS_PER_S: "1000", RATE_LIMIT_BURST: "1000" };
  readerPod = await startGatewayProcess({ env: { ...env, REDIS_URL: proxy.url.replace("http:", "redis:") } });
  senderPod = await startGatewayProcess({ env: { ...env, REDIS_URL: redis.url } });
}, 60_000);
afterEach(() => closeAll());
afterAll(async () => {
  await Promise.all([readerPod?.stop(), senderPod?.stop()]);
  await proxy?.close();
  await stopAllRedis();
});

interface Reader {
  socket: Client;
  ids: Set<string>;
  received: number;
  disconnects: number;
}

async function reader(pod: GatewayProcess, user: string, room: string): Promise<Reader> {
  const socket = await connected(client(pod.url, { token: await signToken(user) }));
  const r: Reader = { socket, ids: new Set(), received: 0, disconnects: 0 };
  socket.on("message", (m: { id: string }) => {
    r.received++;
    r.ids.add(m.id);
  });
  socket.on("disconnect", () => r.disconnects++);
  expect(await ask(socket, "room:join", { room })).toMatchObject({ ok: true });
  return r;
}

/** Sends one room and one direct message every `everyMs` until stopped; resolves the acknowledged ids. */
function stream(sender: Client, room: string, to: string, everyMs: number) {
  const acked = { room: [] as string[], direct: [] as string[] };
  let running = true;
  const done = (async () => {
    for (let i = 0; running && i < 2000; i++) {
      const [r, d] = await Promise.all([
        ask<{ ok: boolean; id: string }>(sender, "message:send", { room, body: { i } }).catch(() => undefined),
        ask<{ ok: boolean; id: string }>(sender, "message:send", { to, body: { i } }).catch(() => undefined),
      ]);
      if (r?.ok) acked.room.push(r.id);
      if (d?.ok) acked.direct.push(d.id);
      await sleep(everyMs);
    }
  })();
  return {
    acked,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

const healthy = async (pod: GatewayProcess) => metricValue(await scrape(pod.opsUrl), "socketgate_fanout_healthy");
const interruptions = async (pod: GatewayProcess) => metricValue(await scrape(pod.opsUrl), "socketgate_fanout_interruptions_total") ?? 0;

async function expectEverything(r: Reader, acked: { room: string[]; direct: string[] }, withinMs: number): Promise<number> {
  const started = Date.now();
  await waitFor("every acknowledged message at the reader", async () => [...acked.room, ...acked.direct].every((id) => r.ids.has(id)), withinMs, 100).catch(
    () => undefined,
  );
  const missing = [...acked.room, ...acked.direct].filter((id) => !r.ids.has(id));
  expect(missing, `missing ${missing.length} of ${acked.room.length + acked.direct.length}`).toEqual([]);
  return Date.now() - started;
}

describe("fan-out interruptions", () => {
  it("subscriber killed mid-stream: detected at once, resubscribed, and connected clients get every acknowledged message", async () => {
    const alice = await reader(readerPod, "kill-alice", "kill-room");
    const sender = await connected(client(senderPod.url, { token: await signToken("kill-bob") }));
    expect(await ask(sender, "room:join", { room: "kill-room" })).toMatchObject({ ok: true });
    const before = await interruptions(readerPod);
    const s = stream(sender, "kill-room", "kill-alice", 20);
    await sleep(500);
    const killedAt = Date.now();
    await redis.cli("CLIENT", "KILL", "TYPE", "pubsub");
    const detected = await waitFor("an interruption counted", async () => (await interruptions(readerPod)) > before && Date.now(), 10_000, 20);
    await sleep(1500);
    await s.stop();
    const fullMs = await expectEverything(alice, s.acked, 30_000);
    expect(await healthy(readerPod)).toBe(1);
    expect(alice.disconnects).toBe(0);
    const resync = readerPod.logs.filter((l) => l.msg === "resync after fan-out interruption done");
    expect(resync.length).toBeGreaterThan(0);
    const total = s.acked.room.length + s.acked.direct.length;
    console.log(
      `[figures] kill: detected after ${detected - killedAt} ms (metric poll), acked ${total}, replayed ${resync.reduce((n, l) => n + Number(l.replayed), 0)}, ` +
        `duplicates before dedupe ${alice.received - alice.ids.size}, all present ${Date.now() - killedAt} ms after the kill (wait after stream ${fullMs} ms)`,
    );
  }, 60_000);

  it("subscriber silently wedged: fanout_healthy 0 and /readyz 503 within 10 s, rebuilt, nothing acknowledged missed", async () => {
    const carol = await reader(readerPod, "wedge-carol", "wedge-room");
    const sender = await connected(client(senderPod.url, { token: await signToken("wedge-dave") }));
    expect(await ask(sender, "room:join", { room: "wedge-room" })).toMatchObject({ ok: true });
    await waitFor("fan-out healthy", async () => (await healthy(readerPod)) === 1, 15_000, 100);
    const s = stream(sender, "wedge-room", "wedge-carol", 20);
    await sleep(500);
    // The reader pod's subscriber connection is the one that sent PSUBSCRIBE.
    expect(proxy.wedge("PSUBSCRIBE")).toBe(1);
    const wedgedAt = Date.now();
    let sawNotReady = false;
    const detected = await waitFor(
      "fanout_healthy 0",
      async () => {
        if ((await readyStatus(readerPod)) === 503) sawNotReady = true;
        return (await healthy(readerPod)) === 0 && Date.now();
      },
      10_000,
      50,
    );
    expect(detected - wedgedAt).toBeLessThan(10_000);
    if (!sawNotReady) sawNotReady = (await readyStatus(readerPod)) === 503 || sawNotReady;
    const healedAt = await waitFor("fan-out healed", async () => (await healthy(readerPod)) === 1 && Date.now(), 20_000, 100);
    await sleep(1000);
    await s.stop();
    const fullMs = await expectEverything(carol, s.acked, 30_000);
    expect(sawNotReady).toBe(true);
    expect(await readyStatus(readerPod)).toBe(200);
    expect(carol.disconnects).toBe(0);
    const resync = readerPod.logs.filter((l) => l.msg === "resync after fan-out interruption done");
    console.log(
      `[figures] wedge: detected after ${detected - wedgedAt} ms, healed ${healedAt - wedgedAt} ms after the wedge, acked ${s.acked.room.length + s.acked.direct.length}, ` +
        `replayed ${Number(resync.at(-1)?.replayed)}, duplicates before dedupe ${carol.received - carol.ids.size}, all present ${Date.now() - wedgedAt} ms after the wedge (wait after stream ${fullMs} ms)`,
    );
  }, 60_000);
});

describe("fan-out interruptions on Redis Cluster (sharded adapter)", () => {
  let pods: GatewayProcess[] = [];
  afterAll(async () => {
    await Promise.all(pods.map((p) => p.stop()));
  });

  it("one shard's subscriber killed mid-stream: that shard's probe notices, and clients get every acknowledged message", async () => {
    const c = await startRedisCluster();
    const env = { REDIS_CLUSTER_NODES: c.seeds.map((x) => `${x.host}:${x.port}`).join(","), RATE_LIMIT_EVENTS_PER_S: "1000", RATE_LIMIT_BURST: "1000" };
    pods = [await startGatewayProcess({ env }), await startGatewayProcess({ env })];
    const [readerOn, senderOn] = pods as [GatewayProcess, GatewayProcess];
    await waitFor(
      "canary probes flowing on every shard",
      async () =>
        (await healthy(readerOn)) === 1 &&
        readerOn.logs.every((l) => l.msg !== "fan-out interrupted: cross-pod messages may be missed; rebuilding the subscription, then resyncing"),
      15_000,
      200,
    );
    // Rooms on every shard: each room's channel lives on the master that serves its slot.
    const rooms = ["shard-a", "shard-b", "shard-c", "shard-d", "shard-e", "shard-f"];
    const erin = await reader(readerOn, "shard-erin", rooms[0]!);
    for (const room of rooms.slice(1)) expect(await ask(erin.socket, "room:join", { room })).toMatchObject({ ok: true });
    const sender = await connected(client(senderOn.url, { token: await signToken("shard-frank") }));
    for (const room of rooms) expect(await ask(sender, "room:join", { room })).toMatchObject({ ok: true });
    const streams = rooms.map((room) => stream(sender, room, "shard-erin", 50));
    await sleep(500);
    const before = await interruptions(readerOn);
    const killedAt = Date.now();
    // Only the second master's sharded subscribers: the other shards keep working.
    await c.nodes[1]!.cli("CLIENT", "KILL", "TYPE", "pubsub");
    const detected = await waitFor("an interruption counted", async () => (await interruptions(readerOn)) > before && Date.now(), 10_000, 20);
    await waitFor("fan-out healed", async () => (await healthy(readerOn)) === 1, 20_000, 100);
    await sleep(1000);
    for (const s of streams) await s.stop();
    const acked = { room: streams.flatMap((s) => s.acked.room), direct: streams.flatMap((s) => s.acked.direct) };
    await expectEverything(erin, acked, 30_000);
    expect(erin.disconnects).toBe(0);
    const resync = readerOn.logs.filter((l) => l.msg === "resync after fan-out interruption done");
    console.log(
      `[figures] cluster shard kill: detected after ${detected - killedAt} ms, acked ${acked.room.length + acked.direct.length}, replayed ${resync.reduce((n, l) => n + Number(l.replayed), 0)}, ` +
        `duplicates before dedupe ${erin.received - erin.ids.size}, all present ${Date.now() - killedAt} ms after the kill`,
    );
  }, 90_000);
});
