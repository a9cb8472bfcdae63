// Chaos with real processes: three gateways, one Redis, senders and receivers spread across pods.
// The receiver's pod dies (kill -9), drains (SIGTERM), or its network is cut past the heartbeat
// timeout; with message:unacked and room catch-up it must end up with every acknowledged message
// exactly once after dedupe. Counts are asserted, not sampled.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, sleep, type Client } from "../support/clients.js";
import { startGateways } from "../support/gateway-cluster.js";
import type { GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";
import { ResilientReceiver } from "../support/resilient-receiver.js";
import { startRedis, stopAllRedis, type RedisNode } from "../support/redis-harness.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { signToken } from "../support/tokens.js";

const POD_ENV = {
  PING_INTERVAL_MS: "1000",
  PING_TIMEOUT_MS: "1000",
  DRAIN_DELAY_MS: "200",
  DRAIN_WINDOW_MS: "1500",
  PRESENCE_GRACE_MS: "300",
  RATE_LIMIT_EVENTS_PER_S: "1000",
  RATE_LIMIT_BURST: "1000",
  HISTORY_MAX_LENGTH: "5000",
};

let redis: RedisNode;
let pods: GatewayProcess[] = [];
const report: string[] = [];

beforeAll(async () => {
  redis = await startRedis();
}, 30_000);
afterEach(async () => {
  closeAll();
  await Promise.all(pods.map((p) => p.stop()));
  pods = [];
});
afterAll(async () => {
  await stopAllRedis();
  console.log(`durable delivery:\n  ${report.join("\n  ")}`);
});

interface Traffic {
  acked: Set<string>;
  stop(): Promise<void>;
}

/** Senders on every pod send room and direct messages until stopped; only acked ids count. */
async function startTraffic(senders: Client[], room: string, to: string): Promise<Traffic> {
  const acked = new Set<string>();
  let running = true;
  const loops = senders.map(async (s, i) => {
    for (let n = 0; running && n < 2000; n++) {
      const payload = n % 2 === 0 ? { room, body: `${i}-${n}` } : { to, body: `${i}-${n}` };
      try {
        const r = (await s.timeout(3000).emitWithAck("message:send", payload)) as { ok: boolean; id?: string };
        if (r.ok && r.id) acked.add(r.id);
      } catch {
        // Not acknowledged (e.g. the sender's own pod died): it is not owed to anyone.
      }
      await sleep(5);
    }
  });
  return {
    acked,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function scenario(name: string, disrupt: (receiver: ResilientReceiver, receiverPod: GatewayProcess, link: TcpProxy) => Promise<void>): Promise<void> {
  pods = await startGateways(3, { REDIS_URL: redis.url }, { env: POD_ENV });
  // The receiver reaches pod 0 through a proxy that can silently drop its traffic.
  const link = await startTcpProxy(pods[0]!.port);
  const room = `chaos-${name}`;
  const user = `rcv-${name}`;
  // Senders sit on the pods that survive; the receiver starts on pod 0, the one we disrupt.
  const senders = await Promise.all([1, 2].map(async (i) => connected(client(pods[i]!.url, { token: await signToken(`snd-${name}-${i}`) }))));
  for (const s of senders) await ask(s, "room:join", { room });
  const alive = () => pods.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p, i) => (p === pods[0] && i === 0 ? link.url : p.url));
  const receiver = new ResilientReceiver(alive, await signToken(user), "device-1", [room]);
  await receiver.start(0);

  const traffic = await startTraffic(senders, room, user);
  await sleep(700);
  await disrupt(receiver, pods[0]!, link);
  await sleep(700);
  await traffic.stop();
  await sleep(300);
  await receiver.settle();
  receiver.stop();
  await link.close();

  const missing = [...traffic.acked].filter((id) => !receiver.unique.has(id));
  report.push(
    `${name}: acked ${traffic.acked.size}, received ${receiver.unique.size} unique, lost ${missing.length}, duplicates before dedupe ${receiver.duplicates}, recovered by catch-up ${receiver.recovered}, reconnects ${receiver.reconnects}, gaps ${receiver.gaps}`,
  );
  expect(traffic.acked.size).toBeGreaterThan(50);
  expect(missing).toEqual([]);
  expect(receiver.gaps).toBe(0);
}

describe("acknowledged messages survive", () => {
  it("kill -9 of the receiver's pod", async () => {
    await scenario("kill9", async (_r, pod) => {
      pod.signal("SIGKILL");
    });
  }, 60_000);

  it("a SIGTERM drain of the receiver's pod", async () => {
    await scenario("drain", async (_r, pod) => {
      pod.signal("SIGTERM");
      expect(await pod.exited).toBe(0);
    });
  }, 60_000);

  it("the receiver's network cut (silently, no close) for longer than the heartbeat timeout", async () => {
    await scenario("netcut", async (_r, pod, link) => {
      link.freeze();
      // PING_INTERVAL_MS + PING_TIMEOUT_MS = 2 s: both ends notice only through heartbeats.
      await pod.waitForLog((l) => l.msg === "disconnected" && l.reason === "ping timeout", 10_000);
    });
  }, 60_000);

  it("the receiver closing its connection and staying away past the heartbeat timeout", async () => {
    await scenario("clientclose", async (r) => {
      await r.cut(3000);
    });
  }, 60_000);
});

describe("bounds", () => {
  it("trims a flooded offline device's inbox at INBOX_MAX_LENGTH and counts the trimmed messages", async () => {
    pods = await startGateways(1, { REDIS_URL: redis.url }, { env: { ...POD_ENV, INBOX_MAX_LENGTH: "50" } });
    const sender = await connected(client(pods[0]!.url, { token: await signToken("flooder-x") }));
    const sent: string[] = [];
    for (let i = 0; i < 120; i++) sent.push(((await ask(sender, "message:send", { to: "offline-y", body: i })) as { id: string }).id);
    const device = await connected(client(pods[0]!.url, { token: await signToken("offline-y"), deviceId: "tablet" }));
    const { messages } = await ask<{ messages: Array<{ id: string; body: number }> }>(device, "message:unacked", {});
    expect(messages.map((m) => m.id)).toEqual(sent.slice(-50));
    const trimmed = metricValue(await scrape(pods[0]!.opsUrl), "socketgate_inbox_trimmed_total") ?? 0;
    expect(trimmed).toBe(70);
  }, 30_000);

  it("answers HISTORY_GAP when room history no longer reaches back", async () => {
    pods = await startGateways(1, { REDIS_URL: redis.url }, { env: { ...POD_ENV, HISTORY_MAX_LENGTH: "20" } });
    const s = await connected(client(pods[0]!.url, { token: await signToken("historian") }));
    await ask(s, "room:join", { room: "gappy" });
    for (let i = 0; i < 50; i++) await ask(s, "message:send", { room: "gappy", body: i });
    const recent = await ask(s, "room:join", { room: "gappy", since: 40 });
    expect(recent).toMatchObject({ ok: true, messages: Array.from({ length: 10 }, (_, i) => ({ seq: 41 + i })) });
    expect(await ask(s, "room:join", { room: "gappy", since: 5 })).toMatchObject({ ok: true, messages: [], gap: { code: "HISTORY_GAP", oldestSeq: 31 } });
    expect(await ask(s, "room:join", { room: "gappy", since: 30 })).toMatchObject({
      ok: true,
      messages: expect.arrayContaining([expect.objectContaining({ seq: 31 }), expect.objectContaining({ seq: 50 })]),
    });
  }, 30_000);
});
