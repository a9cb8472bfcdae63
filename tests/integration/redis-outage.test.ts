// Redis dies mid-operation and comes back: fast UNAVAILABLE answers, health, no unhandled rejection, recovery.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayError } from "../../src/errors.js";
import {
  adapterDelivers,
  gaugeValue,
  startRedis,
  startServices,
  stopAllRedis,
  waitFor,
  type RedisNode,
  type ServicesUnderTest,
} from "../support/redis-harness.js";

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);

let redis: RedisNode;
let a: ServicesUnderTest;
let b: ServicesUnderTest;

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  redis = await startRedis("outage");
  const env = { PRESENCE_TTL_MS: "1000", PRESENCE_GRACE_MS: "0" };
  a = await startServices({ kind: "standalone", url: redis.url }, env);
  b = await startServices({ kind: "standalone", url: redis.url }, env);
});

afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
  await stopAllRedis();
  process.off("unhandledRejection", onUnhandled);
});

/** Settles an operation and reports how it ended and how long it took. */
async function outcome(op: () => Promise<unknown>): Promise<{ ok: boolean; code?: string; message?: string; ms: number }> {
  const t0 = Date.now();
  try {
    await op();
    return { ok: true, ms: Date.now() - t0 };
  } catch (err) {
    return { ok: false, code: err instanceof GatewayError ? err.code : String(err), message: err instanceof Error ? err.message : "", ms: Date.now() - t0 };
  }
}

describe("Redis outage and recovery (standalone)", () => {
  it("works before the outage: services answer, adapter delivers, redis_up is 1", async () => {
    expect(a.services.mode).toBe("redis");
    expect(a.services.isHealthy()).toBe(true);
    expect(await gaugeValue(a.metrics, "socketgate_redis_up")).toBe(1);
    await a.services.history.append("outage-room", { from: "u", body: 1, ts: Date.now() });
    await adapterDelivers(a, b, "before");
  });

  it("kill -9 mid-operation: every operation rejects with UNAVAILABLE quickly, health drops, nothing escapes", async () => {
    a.fakeSocket("sock-alice", "alice", ["lobby", "team"]);
    await a.services.presence.join("lobby", "alice", "sock-alice");
    await a.services.presence.join("team", "alice", "sock-alice");

    // A steady stream of operations runs while the server dies.
    const during: Array<Awaited<ReturnType<typeof outcome>>> = [];
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop && i < 10_000; i++) {
        during.push(await outcome(() => a.services.history.append("outage-room", { from: "u", body: i, ts: Date.now() })));
        // Failures are immediate; without a macrotask turn this loop would starve the timers that stop it.
        await new Promise((r) => setImmediate(r));
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    await redis.kill();
    await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await writer;
    expect(during.some((r) => r.ok)).toBe(true);
    const failed = during.filter((r) => !r.ok);
    expect(failed.length).toBeGreaterThan(0);
    for (const r of failed) expect([r.code, r.ms < 3000]).toEqual(["UNAVAILABLE", true]);

    const ops: Array<[string, () => Promise<unknown>]> = [
      ["presence.join", () => a.services.presence.join("lobby", "bob", "sock-bob")],
      ["presence.leave", () => a.services.presence.leave("lobby", "alice", "other")],
      ["presence.settle", () => a.services.presence.settleOffline("lobby", "bob")],
      ["presence.page", () => a.services.presence.page("lobby", 10)],
      ["presence.claim", () => a.services.presence.claimOccupancy("lobby", 2000)],
      ["presence.heartbeat", () => a.services.presence.heartbeat()],
      ["inbox.append", () => a.services.inbox.append("bob", { to: "bob", from: "alice", body: "hi", ts: Date.now() })],
      ["inbox.unacked", () => a.services.inbox.unacked("bob", "phone", { maxMessages: 10, maxBytes: 1 << 20 })],
      ["inbox.ack", () => a.services.inbox.ack("bob", "phone", ["dm:someepoch:1"])],
      ["history.append", () => a.services.history.append("room", { from: "alice", body: "x", ts: Date.now() })],
      ["history.since", () => a.services.history.since("room", { seq: 0 }, { maxMessages: 10, maxBytes: 1 << 20 })],
      ["idempotency.once", () => a.services.idempotency.once("k", async () => 1)],
    ];
    for (const [name, op] of ops) {
      const r = await outcome(op);
      expect({ name, ok: r.ok, code: r.code }).toEqual({ name, ok: false, code: "UNAVAILABLE" });
      expect(r.ms).toBeLessThan(3000);
      expect(r.message).toMatch(/shared store/);
    }

    await waitFor("isHealthy() false", async () => !a.services.isHealthy() && !b.services.isHealthy(), 5000);
    expect(await gaugeValue(a.metrics, "socketgate_redis_up")).toBe(0);

    // Fire-and-forget publishes of the adapter while Redis is down.
    for (let i = 0; i < 20; i++) {
      a.io.emit("broadcast", i);
      a.io.to("lobby").emit("broadcast", i);
      a.io.serverSideEmit("probe", "lost");
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(unhandled).toEqual([]);
  });

  it("after a restart: health recovers, the adapter resubscribed, presence is rebuilt from live sockets", async () => {
    await redis.restart();
    await waitFor("isHealthy() true again", async () => a.services.isHealthy() && b.services.isHealthy(), 10_000);
    expect(await gaugeValue(a.metrics, "socketgate_redis_up")).toBe(1);

    // The restarted server is empty; the pod's connected socket is written back without a new transition.
    await waitFor(
      "presence rebuilt",
      async () => (await b.services.presence.page("lobby", 10)).users.some((u) => u.userId === "alice" && u.devices === 1),
      10_000,
    );
    expect((await b.services.presence.page("team", 10)).users).toEqual([{ userId: "alice", devices: 1 }]);
    expect((await a.services.presence.join("lobby", "alice", "sock-alice-2")).transition).toBe(false);

    await adapterDelivers(a, b, "after-a");
    await adapterDelivers(b, a, "after-b");

    const stored = (await a.services.history.append("fresh-room", { from: "u", body: "back", ts: Date.now() })).message;
    expect(stored.seq).toBe(1);
    expect(await b.services.history.since("fresh-room", { seq: 0 }, { maxMessages: 10, maxBytes: 1 << 20 })).toEqual({
      ok: true,
      messages: [stored],
      more: false,
      next: { epoch: stored.epoch, seq: 1 },
    });
    const dm = (await a.services.inbox.append("carol", { to: "carol", from: "u", body: "hey", ts: Date.now() })).message;
    expect((await b.services.inbox.unacked("carol", "phone", { maxMessages: 10, maxBytes: 1 << 20 })).messages).toEqual([dm]);
    expect(unhandled).toEqual([]);
  });

  it("a frozen server (half-open connections): operations time out as UNAVAILABLE, health drops, then recovers", async () => {
    redis.pause();
    try {
      const r = await outcome(() => a.services.history.since("fresh-room", { seq: 0 }, { maxMessages: 10, maxBytes: 1 << 20 }));
      expect(r.code).toBe("UNAVAILABLE");
      expect(r.ms).toBeLessThan(3500);
      await waitFor("isHealthy() false while frozen", async () => !a.services.isHealthy(), 5000);
    } finally {
      redis.resume();
    }
    await waitFor("isHealthy() true after thaw", async () => a.services.isHealthy(), 10_000);
    expect((await a.services.history.since("fresh-room", { seq: 0 }, { maxMessages: 10, maxBytes: 1 << 20 })).ok).toBe(true);
    expect(unhandled).toEqual([]);
  });
});
