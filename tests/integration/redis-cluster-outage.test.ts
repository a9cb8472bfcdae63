// Redis Cluster loses a master (kill -9) and gets it back: UNAVAILABLE answers, health, recovery, no stray rejection.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayError } from "../../src/errors.js";
import { startRedisCluster, startServices, stopAllRedis, waitFor, type ClusterSetup, type ServicesUnderTest } from "../support/redis-harness.js";

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
let cluster: ClusterSetup;
let svc: ServicesUnderTest;

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  cluster = await startRedisCluster();
  svc = await startServices({ kind: "cluster", nodes: cluster.seeds });
});

afterAll(async () => {
  await svc?.close();
  await stopAllRedis();
  process.off("unhandledRejection", onUnhandled);
});

const rooms = Array.from({ length: 12 }, (_, i) => `cl-room-${i}`);

async function codes(): Promise<Array<string | undefined>> {
  return Promise.all(
    rooms.map((room) =>
      svc.services.history.since(room, { seq: 0 }, { maxMessages: 10, maxBytes: 1 << 20 }).then(
        () => undefined,
        (err: unknown) => (err instanceof GatewayError ? err.code : String(err)),
      ),
    ),
  );
}

describe("Redis Cluster outage (one of three masters killed)", () => {
  it("answers UNAVAILABLE within the deadline, reports unhealthy, and recovers when the master returns", async () => {
    for (const room of rooms) await svc.services.history.append(room, { from: "u", body: room, ts: Date.now() });
    expect(await codes()).toEqual(rooms.map(() => undefined));

    const victim = cluster.nodes[1]!;
    await victim.kill();
    const t0 = Date.now();
    const during = await codes();
    expect(Date.now() - t0).toBeLessThan(3500);
    // Rooms on the dead master fail (or, after the node timeout, every room: cluster_state:fail).
    expect(during.filter((c) => c !== undefined).length).toBeGreaterThan(0);
    for (const c of during) if (c !== undefined) expect(c).toBe("UNAVAILABLE");
    await waitFor("isHealthy() false", async () => !svc.services.isHealthy(), 8000, 100);
    for (let i = 0; i < 10; i++) svc.io.to(rooms[i]!).emit("x", i);

    await victim.restart();
    await waitFor("cluster_state:ok", async () => (await victim.cli("cluster", "info")).includes("cluster_state:ok"), 15_000, 100);
    await waitFor("isHealthy() true", async () => svc.services.isHealthy(), 15_000, 100);
    await waitFor("every room answers again", async () => (await codes()).every((c) => c === undefined), 15_000, 200);
    expect(unhandled).toEqual([]);
  });
});
