// Managed Redis in every mode (issue 16): an ACL user, TLS only (openssl-made certificates, mutual TLS),
// Sentinel with passwords, a password-protected 3-master Cluster. Two real gateway processes fan out
// across pods in each; a wrong CA or password keeps the pod unready with an error line naming the cause.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, nextEvent } from "../support/clients.js";
import { readyStatus, startGateways } from "../support/gateway-cluster.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import {
  makeTlsFiles,
  startSecureRedis,
  startSecureRedisCluster,
  startSecureSentinel,
  stopAllRedis,
  waitFor,
  type RedisNode,
  type TlsFiles,
} from "../support/redis-harness.js";
import { signToken } from "../support/tokens.js";

let pods: GatewayProcess[] = [];
let tls: TlsFiles;
beforeAll(async () => {
  tls = await makeTlsFiles();
}, 30_000);
afterEach(async () => {
  closeAll();
  await Promise.all(pods.map((p) => p.stop()));
  pods = [];
});
afterAll(async () => {
  await stopAllRedis();
});

/**
 * Two pods that say READY (as a balancer would wait for) and one client on each: the FIRST room
 * message and the FIRST direct message cross pods live. No retry: a READY pod's subscriptions carry
 * messages (readiness waits for the fan-out canary's first proof on every shard), and a room:join is
 * answered only once Redis confirmed the room's subscription (sharded pub/sub subscribes per room).
 */
async function crossPodRoundTrip(tag: string): Promise<void> {
  const [a, b] = pods as [GatewayProcess, GatewayProcess];
  for (const pod of [a, b]) await waitFor("pod ready", async () => (await readyStatus(pod)) === 200, 15_000);
  const s1 = await connected(client(a.url, { token: await signToken(`${tag}-1`) }));
  const s2 = await connected(client(b.url, { token: await signToken(`${tag}-2`) }));
  await ask(s1, "room:join", { room: tag });
  expect(await ask(s2, "room:join", { room: tag })).toMatchObject({ ok: true, users: expect.arrayContaining([{ userId: `${tag}-1`, devices: 1 }]) });
  const inRoom = nextEvent<{ body?: unknown; room?: string }>(s2, "message", 5000, (m) => m.room === tag);
  expect(await ask(s1, "message:send", { room: tag, body: 1 })).toMatchObject({ ok: true, seq: 1 });
  expect(await inRoom).toMatchObject({ body: 1, room: tag });
  const direct = nextEvent<{ from?: string; body?: unknown }>(s1, "message", 5000, (m) => m.from === `${tag}-2`);
  expect(await ask(s2, "message:send", { to: `${tag}-1`, body: "dm1" })).toMatchObject({ ok: true });
  expect(await direct).toMatchObject({ body: "dm1", from: `${tag}-2` });
}

/** A gateway that must never become ready: 503 throughout, and an error line with the cause code. */
async function refusedLoudly(env: Record<string, string>, cause: "REDIS_AUTH_REFUSED" | "REDIS_TLS_FAILED"): Promise<GatewayProcess> {
  const gw = await startGatewayProcess({ env: { REDIS_STARTUP_WAIT_MS: "1500", ...env } });
  pods.push(gw);
  const line = await gw.waitForLog((l) => l.cause === cause && l.level === "error", 10_000);
  expect(String(line.msg)).toMatch(cause === "REDIS_AUTH_REFUSED" ? /REDIS_PASSWORD/ : /REDIS_TLS_CA_FILE/);
  for (let i = 0; i < 5; i++) {
    expect(await readyStatus(gw)).toBe(503);
    await new Promise((r) => setTimeout(r, 200));
  }
  const metrics = await (await fetch(`${gw.opsUrl}/metrics`)).text();
  expect(metrics).toMatch(/^socketgate_redis_up 0$/m);
  return gw;
}

/** Connections the server sees from gateways (CLIENT LIST names them socketgate:<pod>:cmd|sub). */
async function gatewayClients(node: RedisNode): Promise<string[]> {
  return (await node.cli("client", "list")).split("\n").filter((l) => / name=socketgate:/.test(l));
}

describe("standalone with an ACL user", () => {
  it("authenticates as the user from REDIS_USERNAME / REDIS_PASSWORD (overriding the URL) and fans out", async () => {
    const node = await startSecureRedis({ aclUser: { name: "sgapp", password: "acl-pass-0123" } }, "acl");
    pods = await startGateways(2, { REDIS_URL: `redis://someone:stale@127.0.0.1:${node.port}`, REDIS_USERNAME: "sgapp", REDIS_PASSWORD: "acl-pass-0123" });
    await crossPodRoundTrip("acl");
    const conns = await gatewayClients(node);
    expect(conns.length).toBeGreaterThanOrEqual(4);
    for (const c of conns) expect(c).toMatch(/ user=sgapp /);
  }, 60_000);

  it("an ACL user without pub/sub channels (Redis 7's resetchannels default) never becomes ready: fan-out is proven first", async () => {
    const node = await startSecureRedis({ password: "admin-pass-0123" }, "acl-nochannels");
    await node.cli("ACL", "SETUSER", "nochan", "on", ">nochan-pass-0123", "~*", "+@all", "resetchannels");
    const gw = await startGatewayProcess({
      env: { REDIS_URL: `redis://127.0.0.1:${node.port}`, REDIS_USERNAME: "nochan", REDIS_PASSWORD: "nochan-pass-0123" },
    });
    pods.push(gw);
    // Commands work (Redis is up), but nothing published by another pod could reach this one.
    const seen = new Set<number>();
    for (const end = Date.now() + 6000; Date.now() < end;) {
      seen.add(await readyStatus(gw));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect([...seen]).toEqual([503]);
    const metrics = await (await fetch(`${gw.opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^socketgate_redis_up 1$/m);
    expect(metrics).toMatch(/^socketgate_fanout_healthy 0$/m);
    expect(await (await fetch(`${gw.opsUrl}/readyz`)).text()).toContain("fanout_unhealthy");
  }, 30_000);

  it("a wrong password keeps the pod unready and says so", async () => {
    const node = await startSecureRedis({ aclUser: { name: "sgapp2", password: "right-pass-0123" } }, "acl-wrong");
    await refusedLoudly({ REDIS_URL: `redis://127.0.0.1:${node.port}`, REDIS_USERNAME: "sgapp2", REDIS_PASSWORD: "wrong-pass-0123" }, "REDIS_AUTH_REFUSED");
  }, 30_000);
});

describe("standalone over TLS only (--port 0 --tls-port)", () => {
  it("rediss:// with the CA fans out across pods", async () => {
    const node = await startSecureRedis({ tls, password: "tls-pass-0123" }, "tls");
    pods = await startGateways(2, { REDIS_URL: `rediss://127.0.0.1:${node.port}`, REDIS_PASSWORD: "tls-pass-0123", REDIS_TLS_CA_FILE: tls.ca });
    await crossPodRoundTrip("tls");
    expect((await gatewayClients(node)).length).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it("REDIS_TLS=1 on a redis:// URL, with a client certificate (mutual TLS required)", async () => {
    const node = await startSecureRedis({ tls, extraArgs: ["--tls-auth-clients", "yes"] }, "mtls");
    pods = await startGateways(2, {
      REDIS_URL: `redis://127.0.0.1:${node.port}`,
      REDIS_TLS: "1",
      REDIS_TLS_CA_FILE: tls.ca,
      REDIS_TLS_CERT_FILE: tls.clientCert,
      REDIS_TLS_KEY_FILE: tls.clientKey,
    });
    await crossPodRoundTrip("mtls");
  }, 60_000);

  it("a CA that did not sign the server's certificate is refused loudly, never retried in plaintext", async () => {
    const node = await startSecureRedis({ tls }, "tls-wrong-ca");
    await refusedLoudly({ REDIS_URL: `rediss://127.0.0.1:${node.port}`, REDIS_TLS_CA_FILE: tls.wrongCa }, "REDIS_TLS_FAILED");
    expect(await gatewayClients(node)).toEqual([]);
  }, 30_000);

  it("an unreadable CA file stops start-up naming the setting", async () => {
    const gw = await startGatewayProcess({ env: { REDIS_URL: "rediss://127.0.0.1:1", REDIS_TLS_CA_FILE: `${tls.dir}/missing.pem` }, expectFailure: true });
    expect(await gw.exited).not.toBe(0);
    expect(gw.stderr.join("") + JSON.stringify(gw.logs)).toContain("REDIS_TLS_CA_FILE");
  }, 30_000);
});

describe("Sentinel with passwords", () => {
  it("authenticates to the Sentinel (REDIS_SENTINEL_PASSWORD) and to the master (REDIS_PASSWORD) and fans out", async () => {
    const s = await startSecureSentinel({ password: "master-pass-0123", sentinelPassword: "sentinel-pass-0123" });
    const env = { REDIS_SENTINELS: s.sentinels.map((x) => `${x.host}:${x.port}`).join(","), REDIS_SENTINEL_NAME: s.name };
    pods = await startGateways(2, { ...env, REDIS_PASSWORD: "master-pass-0123", REDIS_SENTINEL_PASSWORD: "sentinel-pass-0123" });
    await crossPodRoundTrip("sentinel");
    expect((await gatewayClients(s.master)).length).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it("over TLS only: REDIS_TLS covers the Sentinel and the master it names", async () => {
    const s = await startSecureSentinel({ password: "master-pass-tls", sentinelPassword: "sentinel-pass-tls", tls }, "sgtls");
    pods = await startGateways(2, {
      REDIS_SENTINELS: s.sentinels.map((x) => `${x.host}:${x.port}`).join(","),
      REDIS_SENTINEL_NAME: s.name,
      REDIS_PASSWORD: "master-pass-tls",
      REDIS_SENTINEL_PASSWORD: "sentinel-pass-tls",
      REDIS_TLS: "1",
      REDIS_TLS_CA_FILE: tls.ca,
    });
    await crossPodRoundTrip("sentinel-tls");
    expect((await gatewayClients(s.master)).length).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it("a wrong master password keeps the pod unready and says so", async () => {
    const s = await startSecureSentinel({ password: "master-pass-4567", sentinelPassword: "sentinel-pass-4567" }, "sgsecure2");
    await refusedLoudly(
      {
        REDIS_SENTINELS: s.sentinels.map((x) => `${x.host}:${x.port}`).join(","),
        REDIS_SENTINEL_NAME: s.name,
        REDIS_PASSWORD: "not-the-master-pass",
        REDIS_SENTINEL_PASSWORD: "sentinel-pass-4567",
      },
      "REDIS_AUTH_REFUSED",
    );
  }, 30_000);
});

describe("Redis Cluster with a password", () => {
  it("authenticates on every node of a 3-master cluster and fans out with the sharded adapter", async () => {
    const c = await startSecureRedisCluster({ password: "cluster-pass-0123" });
    pods = await startGateways(2, { REDIS_CLUSTER_NODES: c.seeds.map((x) => `${x.host}:${x.port}`).join(","), REDIS_PASSWORD: "cluster-pass-0123" });
    expect(pods[0]!.logs.find((l) => l.msg === "redis reachable")?.adapter).toBe("sharded");
    await crossPodRoundTrip("cluster");
    // Sharded subscribers reach every master.
    await waitFor("gateway connections on every master", async () => (await Promise.all(c.nodes.map(gatewayClients))).every((l) => l.length > 0), 10_000);
  }, 90_000);

  it("a room:join is answered only once Redis confirmed the room's sharded subscription (refused: UNAVAILABLE, not ok)", async () => {
    const c = await startSecureRedisCluster({ password: "cluster-pass-acl" });
    // An ACL user (set on every node: ACLs are per node) whose channels exclude rooms starting with "@":
    // the adapter's channels, the canary's (#canary:…) and user rooms (#u:…) are allowed.
    for (const node of c.nodes)
      await node.cli("ACL", "SETUSER", "sgrooms", "on", ">rooms-pass-0123", "~*", "+@all", "resetchannels", "&socket.io#/#", "&socket.io#/#[^@]*");
    pods = await startGateways(2, {
      REDIS_CLUSTER_NODES: c.seeds.map((x) => `${x.host}:${x.port}`).join(","),
      REDIS_USERNAME: "sgrooms",
      REDIS_PASSWORD: "rooms-pass-0123",
    });
    await crossPodRoundTrip("cluster-acl");
    const s = await connected(client(pods[1]!.url, { token: await signToken("walled-1") }));
    expect(await ask(s, "room:join", { room: "@walled" })).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    // Undone (the socket is not in the room: leaving it is a no-op), and a permitted room still works on the same socket.
    expect(await ask(s, "room:leave", { room: "@walled" })).toMatchObject({ ok: true, joined: false });
    expect(await ask(s, "room:join", { room: "open-after" })).toMatchObject({ ok: true });
  }, 90_000);

  it("over TLS only (cluster bus included): every node verified against the CA, sharded fan-out works", async () => {
    const c = await startSecureRedisCluster({ password: "cluster-pass-tls", tls });
    pods = await startGateways(2, {
      REDIS_CLUSTER_NODES: c.seeds.map((x) => `${x.host}:${x.port}`).join(","),
      REDIS_PASSWORD: "cluster-pass-tls",
      REDIS_TLS: "1",
      REDIS_TLS_CA_FILE: tls.ca,
    });
    await crossPodRoundTrip("cluster-tls");
  }, 90_000);

  it("a wrong password keeps the pod unready and says so", async () => {
    const c = await startSecureRedisCluster({ password: "cluster-pass-4567" });
    await refusedLoudly(
      { REDIS_CLUSTER_NODES: c.seeds.map((x) => `${x.host}:${x.port}`).join(","), REDIS_PASSWORD: "wrong-cluster-pass" },
      "REDIS_AUTH_REFUSED",
    );
  }, 60_000);
});
