// Big rooms on 3 gateway processes + Redis: a join storm through a stalled pod answers every join, and a
// SIGKILLed pod's members leave the survivors' counts (occupancy) and lists (offline events) once they expire.
import { afterEach, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, nextEvent, type Client } from "../support/clients.js";
import { startGateways } from "../support/gateway-cluster.js";
import type { GatewayProcess } from "../support/gateway-process.js";
import { startRedis, stopAllRedis, waitFor } from "../support/redis-harness.js";
import { signToken, TEST_SECRET } from "../support/tokens.js";
// @ts-expect-error plain .mjs module of the bench load generator, without type declarations
import { SioClient, signJwt } from "../bench/loadgen/sio.mjs";

/** The bench's raw Socket.IO client (tests/bench/loadgen/sio.mjs): a few hundred of them cost little. */
interface RawClient {
  auth: unknown;
  connected: boolean;
  connect(host: string, port: number, auth: undefined, timeoutMs: number): Promise<RawClient>;
  emitRaw(json: string, cb: (buf: Buffer | null, start: number, end: number) => void): void;
  destroy(): void;
}
type RawClientCtor = new (handlers: { onClose?: (code: number) => void }) => RawClient;

interface Occupancy {
  room: string;
  users: number;
  devices: number;
  mode: "full" | "occupancy";
}

let pods: GatewayProcess[] = [];
const raw: RawClient[] = [];
afterEach(async () => {
  closeAll();
  for (const c of raw.splice(0)) c.destroy();
  await Promise.all(pods.map((p) => p.stop()));
  pods = [];
  await stopAllRedis();
});

describe("big room on 3 pods + Redis", () => {
  it("a join storm through a pod stalled longer than REDIS_OP_TIMEOUT_MS answers every join, cuts nothing, counts exactly", async () => {
    // A pod that cannot run for a while (CPU quota, a loaded node, a long GC) must not fail the joins whose
    // Redis work was answered meanwhile: the deadline is the store's, not the pod's. 500 ms keeps the stall short.
    const OP_TIMEOUT_MS = 500;
    const STALL_MS = 2000;
    const N = 300;
    const redis = await startRedis();
    pods = await startGateways(3, { REDIS_URL: redis.url }, { env: { REDIS_OP_TIMEOUT_MS: String(OP_TIMEOUT_MS) } });
    const room = "storm";
    let cut = 0;
    const Sio = SioClient as RawClientCtor;
    for (let i = 0; i < N; i += 50) {
      const batch = Array.from({ length: Math.min(50, N - i) }, (_, j) => {
        const c = new Sio({ onClose: () => void cut++ });
        c.auth = { token: signJwt(TEST_SECRET, `storm-${i + j}`) as string };
        raw.push(c);
        return c.connect("127.0.0.1", pods[(i + j) % 3]!.port, undefined, 15_000);
      });
      await Promise.all(batch);
    }

    const codes: Record<string, number> = {};
    let stalled = false;
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      let answered = 0;
      const timer = setTimeout(() => reject(new Error(`${answered} of ${N} joins answered within 60 s`)), 60_000);
      raw.forEach((c, i) =>
        c.emitRaw(JSON.stringify(["room:join", { room }]), (buf, s, e) => {
          const answer = buf ? (JSON.parse(buf.toString("utf8", s, e)) as Array<{ ok: boolean; error?: { code: string } }>)[0]! : undefined;
          const code = !answer ? "CLOSED" : answer.ok ? "ok" : (answer.error?.code ?? "?");
          codes[code] = (codes[code] ?? 0) + 1;
          // Pod 0 stops in the middle of its share of the storm (its first answer is out, the rest in flight).
          if (i % 3 === 0 && !stalled) {
            stalled = true;
            pods[0]!.signal("SIGSTOP");
            setTimeout(() => pods[0]!.signal("SIGCONT"), STALL_MS);
          }
          if (++answered === N) {
            clearTimeout(timer);
            resolve();
          }
        }),
      );
    });
    const tookMs = Date.now() - started;
    expect(stalled).toBe(true);
    expect(codes).toEqual({ ok: N });
    expect(cut).toBe(0);
    // Bounded: the stall plus the work, generously (two shared cores).
    expect(tookMs).toBeLessThan(STALL_MS + 20_000);

    // Exact counts cluster-wide, read through every pod.
    for (const p of pods) {
      const s = await connected(client(p.url, { token: await signToken(`reader-${p.port}`) }));
      const page = await ask<{ ok: boolean; occupancy: { users: number; devices: number } }>(s, "presence:get", { room });
      expect(page).toMatchObject({ ok: true, occupancy: { users: N, devices: N } });
    }
  }, 120_000);

  it("after kill -9 of a pod, the survivors' members get the corrected counts and offline events once its entries expire", async () => {
    const TTL_MS = 1500;
    const GRACE_MS = 200;
    const INTERVAL_MS = 500;
    const redis = await startRedis();
    const env = {
      PRESENCE_FULL_MAX_USERS: "5",
      OCCUPANCY_INTERVAL_MS: String(INTERVAL_MS),
      PRESENCE_GRACE_MS: String(GRACE_MS),
      PRESENCE_TTL_MS: String(TTL_MS),
    };
    pods = await startGateways(3, { REDIS_URL: redis.url }, { env });
    const join = async (pod: GatewayProcess, sub: string, room: string, deviceId?: string): Promise<Client> => {
      const s = await connected(client(pod.url, { token: await signToken(sub), ...(deviceId ? { deviceId } : {}) }, { reconnection: false }));
      expect(await ask(s, "room:join", { room })).toMatchObject({ ok: true });
      return s;
    };

    // A big room: 4 users per pod, plus a second device on pod 2 of a user whose first device is on pod 0.
    const big = "crash-big";
    const watchers = [await join(pods[0]!, "w0", big), await join(pods[1]!, "w1", big)];
    for (let i = 0; i < 12; i++) await join(pods[i % 3]!, `u${i}`, big);
    await join(pods[2]!, "u0", big, "second");
    // A big room where the pod that dies holds only second devices: the device count changes, the user count does not.
    const devices = "crash-devices";
    const deviceWatcher = await join(pods[0]!, "dw", devices);
    for (let i = 0; i < 8; i++) await join(pods[i % 2]!, `d${i}`, devices);
    for (let i = 0; i < 3; i++) await join(pods[2]!, `d${i}`, devices, "second");
    // A full-mode room: one user on the pod that dies.
    const small = "crash-small";
    const smallWatchers = [await join(pods[0]!, "sw0", small), await join(pods[1]!, "sw1", small)];
    await join(pods[2]!, "gone", small);

    const bigBefore = await ask<{ occupancy: { users: number; devices: number } }>(watchers[0]!, "presence:get", { room: big });
    expect(bigBefore.occupancy).toEqual({ users: 14, devices: 15 });
    const corrected = watchers.map((w) => nextEvent<Occupancy>(w, "presence:occupancy", 15_000, (o) => o.room === big && o.users === 10 && o.devices === 10));
    await waitFor(
      "the device room in occupancy mode with its counts announced",
      async () => (await ask<{ occupancy: { users: number; devices: number } }>(deviceWatcher, "presence:get", { room: devices })).occupancy.devices === 12,
      5000,
    );
    const devicesCorrected = nextEvent<Occupancy>(deviceWatcher, "presence:occupancy", 15_000, (o) => o.room === devices && o.devices === 9);
    const offline = smallWatchers.map((w) => nextEvent<{ userId: string; status: string }>(w, "presence", 15_000, (p) => p.userId === "gone"));

    const killedAt = Date.now();
    pods[2]!.signal("SIGKILL");
    await pods[2]!.exited;
    // Users u2, u5, u8, u11 had their only socket on pod 2; u0 keeps its pod-0 device (a device less, not a user).
    for (const o of await Promise.all(corrected)) expect(o).toMatchObject({ users: 10, devices: 10, mode: "occupancy" });
    for (const p of await Promise.all(offline)) expect(p.status).toBe("offline");
    expect(await devicesCorrected).toMatchObject({ users: 9, devices: 9, mode: "occupancy" });
    // Crash bound: TTL + one heartbeat (TTL / 3) + grace + one occupancy interval, plus a generous margin.
    expect(Date.now() - killedAt).toBeLessThan(TTL_MS + TTL_MS / 3 + GRACE_MS + INTERVAL_MS + 5000);
    await waitFor(
      "the API agrees",
      async () => {
        const page = await ask<{ occupancy: { users: number; devices: number } }>(watchers[1]!, "presence:get", { room: big });
        return page.occupancy.users === 10 && page.occupancy.devices === 10;
      },
      5000,
    );
  }, 120_000);
});
