// Real redis-server processes for tests (standalone, 3-master Cluster, Sentinel) on free loopback ports in
// tests/.tmp, with SIGKILL/SIGSTOP/restart for outage tests, and cluster services built on them. Waits are bounded.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Server } from "socket.io";
import { createRedisServices } from "../../src/cluster/redis/index.js";
import type { ClusterServices } from "../../src/cluster/types.js";
import { loadConfig, type RedisConfig } from "../../src/config.js";
import { createLogger } from "../../src/ops/logger.js";
import { GatewayMetrics } from "../../src/ops/metrics.js";
import type { PresenceEntry } from "../../src/cluster/types.js";
import { freePort } from "./ports.js";

const REDIS_SERVER = "/usr/bin/redis-server";
const REDIS_CLI = "/usr/bin/redis-cli";
const HOST = "127.0.0.1";
const TMP_ROOT = fileURLToPath(new URL("../.tmp/", import.meta.url));

export interface RedisNode {
  host: string;
  port: number;
  url: string;
  dir: string;
  /** SIGKILL, like a crashed or OOM-killed Redis: no clean shutdown, connections reset. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a frozen server whose connections stay open (the half-open case). */
  pause(): void;
  resume(): void;
  /** Starts again on the same port and directory (empty: persistence is off) and waits for PING. */
  restart(): Promise<void>;
  /** redis-cli against this node; resolves its stdout. */
  cli(...args: string[]): Promise<string>;
}

export interface SentinelSetup {
  master: RedisNode;
  sentinel: RedisNode;
  name: string;
  sentinels: Array<{ host: string; port: number }>;
}

export interface ClusterSetup {
  nodes: RedisNode[];
  seeds: Array<{ host: string; port: number }>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr instanceof Error ? `: ${lastErr.message}` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** One RESP PING over a raw socket: cheaper than spawning redis-cli in a poll loop. */
export function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: HOST, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once("error", () => done(false));
    sock.once("connect", () => sock.write("PING\r\n"));
    sock.once("data", (d) => done(d.toString().startsWith("+PONG")));
  });
}

function cli(port: number, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI, ["-h", HOST, "-p", String(port), ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(" ")}: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

function tempDir(label: string): string {
  mkdirSync(TMP_ROOT, { recursive: true });
  const dir = mkdtempSync(join(TMP_ROOT, `redis-${label}-`));
  dirs.add(dir);
  return dir;
}

/** A port whose +10000 neighbour is free too (the cluster bus port). */
async function freeClusterPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p + 10000 > 65535) continue;
    if (
      await new Promise<boolean>((resolve) => {
        const s = connect({ host: HOST, port: p + 10000 });
        s.once("connect", () => (s.destroy(), resolve(false)));
        s.once("error", () => resolve(true));
      })
    )
      return p;
  }
  throw new Error("no free port pair for a cluster node");
}

function spawnNode(args: string[], dir: string, port: number): ChildProcess {
  const child = spawn(REDIS_SERVER, args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.on("data", () => undefined);
  live.add(child);
  child.once("exit", () => live.delete(child));
  child.once("error", () => live.delete(child));
  void port;
  return child;
}

/** How the harness itself reaches a node that wants a password or TLS (readiness probe and redis-cli). */
interface NodeAccess {
  probe: (port: number) => Promise<boolean>;
  cliArgs: string[];
}

async function startNode(
  label: string,
  extra: (port: number, dir: string) => { args: string[]; configFile?: string },
  portIn?: number,
  access: NodeAccess = { probe: (p) => ping(p), cliArgs: [] },
): Promise<RedisNode> {
  const port = portIn ?? (await freePort());
  const dir = tempDir(`${label}-${port}`);
  const build = () => {
    const { args, configFile } = extra(port, dir);
    const base = [
      "--port",
      String(port),
      "--bind",
      HOST,
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      "--protected-mode",
      "no",
      "--logfile",
      join(dir, "redis.log"),
      "--enable-debug-command",
      "local",
    ];
    return configFile ? [configFile, ...base, ...args] : [...base, ...args];
  };
  let child = spawnNode(build(), dir, port);
  const up = () => waitFor(`redis-server on ${port}`, () => access.probe(port), 10_000);
  await up();
  const node: RedisNode = {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    dir,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    },
    pause: () => void child.kill("SIGSTOP"),
    resume: () => void child.kill("SIGCONT"),
    restart: async () => {
      await node.kill();
      child = spawnNode(build(), dir, port);
      await up();
    },
    cli: (...args) => cli(port, [...access.cliArgs, ...args]),
  };
  return node;
}

export function startRedis(label = "standalone"): Promise<RedisNode> {
  return startNode(label, () => ({ args: [] }));
}

/** Spreads the slots over the started masters (redis-cli, no replicas) and waits until every node reports cluster_state:ok. */
async function formCluster(nodes: RedisNode[], cliArgs: string[]): Promise<ClusterSetup> {
  await cli(nodes[0]!.port, [...cliArgs, "--cluster", "create", ...nodes.map((n) => `${HOST}:${n.port}`), "--cluster-replicas", "0", "--cluster-yes"], 30_000);
  await waitFor(
    "cluster_state:ok on every node",
    async () => (await Promise.all(nodes.map((n) => n.cli("cluster", "info")))).every((i) => i.includes("cluster_state:ok")),
    20_000,
    100,
  );
  return { nodes, seeds: nodes.map((n) => ({ host: HOST, port: n.port })) };
}

/** Three masters, no replicas, slots spread by redis-cli; resolves once every node reports cluster_state:ok. */
export async function startRedisCluster(): Promise<ClusterSetup> {
  const ports = [await freeClusterPort(), await freeClusterPort(), await freeClusterPort()];
  const nodes = await Promise.all(
    ports.map((p) =>
      startNode(
        "cluster",
        (port, dir) => ({ args: ["--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf"), "--cluster-node-timeout", "2000"] }),
        p,
      ),
    ),
  );
  return formCluster(nodes, []);
}

/** One master and one sentinel monitoring it (quorum 1); resolves once the sentinel knows the master. */
export async function startSentinel(name = "sgmaster"): Promise<SentinelSetup> {
  const master = await startRedis("sentinel-master");
  const sentinel = await startNode("sentinel", (port, dir) => {
    const configFile = join(dir, "sentinel.conf");
    // Sentinel rewrites its config file, so it lives in the node's own directory.
    writeFileSync(
      configFile,
      [
        `port ${port}`,
        `bind ${HOST}`,
        `sentinel monitor ${name} ${HOST} ${master.port} 1`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        "",
      ].join("\n"),
    );
    return { configFile, args: ["--sentinel"] };
  });
  await waitFor(`sentinel ${sentinel.port} to know ${name}`, async () =>
    (await sentinel.cli("sentinel", "get-master-addr-by-name", name)).includes(String(master.port)),
  );
  return { master, sentinel, name, sentinels: [{ host: HOST, port: sentinel.port }] };
}

export interface SentinelGroup {
  name: string;
  /** The nodes as started: nodes[0] the first master, the rest its replicas (roles change on failover). */
  nodes: RedisNode[];
  sentinelNodes: RedisNode[];
  sentinels: Array<{ host: string; port: number }>;
  /** The node the sentinels currently name as master. */
  master(): Promise<RedisNode>;
  /** Waits until the sentinels name a master other than `old` and it accepts writes. */
  failedOverFrom(old: RedisNode, timeoutMs?: number): Promise<RedisNode>;
  /** Waits until `master` reports this many connected replicas (a restarted node rejoins as one). */
  replicasConnected(master: RedisNode, count: number, timeoutMs?: number): Promise<void>;
  /**
   * Makes the replicas lag: freezes them (SIGSTOP) and writes `fillerBytes` into the master's replication
   * stream, more than the kernel's socket buffers hold, so later writes wait in the master's own output
   * buffer and die with it on a kill -9. Resolves a function that thaws the replicas.
   */
  lagReplicas(fillerBytes?: number): Promise<() => void>;
}

/**
 * One master, `replicas` replicas and `sentinels` sentinels (quorum 2 of 3 by default), all on free loopback
 * ports, persistence off; failover after 1 s without answers. Resolves once every sentinel knows the master
 * and every replica is in sync.
 */
export async function startSentinelGroup(opts: { replicas?: number; sentinels?: number; name?: string } = {}): Promise<SentinelGroup> {
  const name = opts.name ?? "sgmaster";
  const sentinelCount = opts.sentinels ?? 3;
  const quorum = Math.min(2, sentinelCount);
  const master = await startRedis("group-master");
  const replicas = await Promise.all(
    Array.from({ length: opts.replicas ?? 1 }, () => startNode("group-replica", () => ({ args: ["--replicaof", HOST, String(master.port)] }))),
  );
  const nodes = [master, ...replicas];
  const sentinelNodes: RedisNode[] = [];
  for (let i = 0; i < sentinelCount; i++)
    sentinelNodes.push(
      await startNode("group-sentinel", (port, dir) => {
        const configFile = join(dir, "sentinel.conf");
        writeFileSync(
          configFile,
          [
            `port ${port}`,
            `bind ${HOST}`,
            `sentinel monitor ${name} ${HOST} ${master.port} ${quorum}`,
            `sentinel down-after-milliseconds ${name} 1000`,
            `sentinel failover-timeout ${name} 5000`,
            `sentinel parallel-syncs ${name} 1`,
            "",
          ].join("\n"),
        );
        return { configFile, args: ["--sentinel"] };
      }),
    );
  const masterPort = async (): Promise<number | undefined> => {
    for (const s of sentinelNodes) {
      try {
        const lines = (await s.cli("sentinel", "get-master-addr-by-name", name)).trim().split("\n");
        const port = Number(lines[1]);
        if (port > 0) return port;
      } catch {
        // that sentinel is down or busy: ask the next one
      }
    }
    return undefined;
  };
  const byPort = (port: number | undefined) => nodes.find((n) => n.port === port);
  const group: SentinelGroup = {
    name,
    nodes,
    sentinelNodes,
    sentinels: sentinelNodes.map((s) => ({ host: HOST, port: s.port })),
    master: async () => {
      const node = byPort(await masterPort());
      if (!node) throw new Error("the sentinels name no master of this group");
      return node;
    },
    failedOverFrom: (old, timeoutMs = 30_000) =>
      waitFor(
        `a failover away from ${old.port}`,
        async () => {
          const node = byPort(await masterPort());
          if (!node || node === old) return undefined;
          return (await node.cli("role")).startsWith("master") ? node : undefined;
        },
        timeoutMs,
        200,
      ),
    replicasConnected: (m, count, timeoutMs = 30_000) =>
      waitFor(
        `${count} replicas in sync with ${m.port}`,
        async () => {
          const info = await m.cli("info", "replication");
          const connected = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0);
          const online = (info.match(/state=online/g) ?? []).length;
          return connected >= count && online >= count;
        },
        timeoutMs,
        200,
      ).then(() => undefined),
    lagReplicas: async (fillerBytes = 48 * 1024 * 1024) => {
      const m = await group.master();
      const frozen = nodes.filter((n) => n !== m);
      for (const r of frozen) r.pause();
      // Replicated as the effect (SET with the whole value), in 8 MiB pieces.
      for (let i = 0; i * 8 * 1024 * 1024 < fillerBytes; i++)
        await m.cli("eval", "redis.call('SET', KEYS[1], string.rep('x', 8388608)) return 1", "1", `sg-test-filler-${i}`);
      return () => {
        for (const r of frozen) r.resume();
      };
    },
  };
  await group.replicasConnected(master, replicas.length);
  for (const s of sentinelNodes)
    await waitFor(
      `sentinel ${s.port} to know ${name} and its replicas`,
      async () => {
        const info = await s.cli("sentinel", "master", name);
        return info.includes(String(master.port)) && new RegExp(`num-slaves\\s+${replicas.length}\\b`).test(info);
      },
      20_000,
      100,
    );
  return group;
}

/** Kills every process this file started and removes their directories (call from afterAll). */
export async function stopAllRedis(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const t = setTimeout(resolve, 5000);
          child.once("exit", () => (clearTimeout(t), resolve()));
          child.kill("SIGKILL");
        }),
    ),
  );
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

// ---- createRedisServices on an unattached Socket.IO server, for the redis-* integration tests ----
export interface ServicesUnderTest {
  io: Server;
  services: ClusterServices;
  metrics: GatewayMetrics;
  podId: string;
  /** Pretends a client socket is connected to this pod (what the presence rebuild reads). */
  fakeSocket(id: string, userId: string, rooms: string[]): void;
  close(): Promise<void>;
}

export async function startServices(redis: RedisConfig, env: Record<string, string> = {}): Promise<ServicesUnderTest> {
  const config = { ...loadConfig({ NODE_ENV: "test", LOG_LEVEL: "silent", ...env }), redis };
  // No HTTP attachment: the adapter works per namespace, so two servers in one process can talk via Redis.
  const io = new Server();
  const metrics = new GatewayMetrics();
  const podId = `test-pod-${randomUUID().slice(0, 8)}`;
  // This pod's sockets as the presence rebuild sees them (fakeSocket adds to it).
  const local: PresenceEntry[] = [];
  const services = await createRedisServices(config, redis, { metrics, logger: createLogger("silent"), podId, localPresence: () => local });
  io.adapter(services.adapter);
  return {
    io,
    services,
    metrics,
    podId,
    fakeSocket(id, userId, rooms) {
      for (const room of rooms) local.push({ room, userId, socketKey: id });
    },
    async close() {
      // io.close() needs an attached engine; closing the adapter is what releases the subscriptions.
      await io.of("/").adapter.close();
      await services.close();
    },
  };
}

export async function gaugeValue(metrics: GatewayMetrics, name: string): Promise<number | undefined> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  return metric?.values[0]?.value;
}

// Last resort if a test file crashes before its afterAll: never leave redis-server processes behind.
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** Receives a server-side event on `to` that `from` emits through the adapter (retried until subscribed). */
export async function adapterDelivers(from: ServicesUnderTest, to: ServicesUnderTest, tag: string): Promise<void> {
  let got = false;
  const on = (v: string) => void (v === tag && (got = true));
  to.io.on("probe", on);
  try {
    await waitFor(
      `adapter delivery ${tag}`,
      async () => {
        from.io.serverSideEmit("probe", tag);
        await new Promise((r) => setTimeout(r, 50));
        return got;
      },
      10_000,
      10,
    );
  } finally {
    to.io.off("probe", on);
  }
}

// ---- Managed-Redis shapes: ACL users, passwords, TLS-only servers (issue 16) ----

/** PEM files made by openssl for one test run: a CA that signed the server and client certificates, and an unrelated CA. */
export interface TlsFiles {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that did not sign the server's certificate: verifying against it must fail. */
  wrongCa: string;
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { cwd, timeout: 30_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`openssl ${args[0]}: ${stderr || err.message}`)) : resolve(),
    );
  });
}

/** A CA, a server certificate for 127.0.0.1 / localhost and a client certificate, all fresh (EC keys: fast). */
export async function makeTlsFiles(): Promise<TlsFiles> {
  const dir = tempDir("tls");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  for (const ca of ["ca", "wrong-ca"])
    await openssl(["req", "-x509", ...ec, "-keyout", `${ca}.key`, "-out", `${ca}.pem`, "-days", "2", "-subj", `/CN=socketgate test ${ca}`], dir);
  const sign = async (name: string, cn: string, ext: string) => {
    await openssl(["req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`], dir);
    writeFileSync(join(dir, `${name}.ext`), ext);
    await openssl(
      [
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        `${name}.pem`,
        "-days",
        "2",
        "-extfile",
        `${name}.ext`,
      ],
      dir,
    );
  };
  // clientAuth too: cluster-bus and replication links present the server certificate as a client.
  await sign("server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n");
  await sign("client", "socketgate", "extendedKeyUsage=clientAuth\n");
  const f = (n: string) => join(dir, n);
  return {
    dir,
    ca: f("ca.pem"),
    serverCert: f("server.pem"),
    serverKey: f("server.key"),
    clientCert: f("client.pem"),
    clientKey: f("client.key"),
    wrongCa: f("wrong-ca.pem"),
  };
}

/** PING that also counts "-NOAUTH" as alive (the server runs, it just wants a password), optionally over TLS. */
function probeAlive(port: number, tlsFiles?: TlsFiles, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tlsFiles
      ? tlsConnect({ host: HOST, port, ca: readFileSync(tlsFiles.ca), cert: readFileSync(tlsFiles.clientCert), key: readFileSync(tlsFiles.clientKey) })
      : connect({ host: HOST, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once("error", () => done(false));
    sock.once(tlsFiles ? "secureConnect" : "connect", () => sock.write("PING\r\n"));
    sock.once("data", (d) => done(/^(\+PONG|-NOAUTH)/.test(d.toString())));
  });
}

export interface SecureRedisOptions {
  /** requirepass of the default user. */
  password?: string;
  /** An ACL user allowed everything (the default user is then switched off unless `password` is set). */
  aclUser?: { name: string; password: string };
  /** TLS only: `--port 0 --tls-port`, client certificates requested but optional. */
  tls?: TlsFiles;
  extraArgs?: string[];
}

function secureArgs(o: SecureRedisOptions, port: number): string[] {
  const args: string[] = [];
  if (o.password) args.push("--requirepass", o.password, "--masterauth", o.password);
  if (o.aclUser) {
    // redis-server joins the words after a --flag into one config line.
    args.push("--user", o.aclUser.name, "on", `>${o.aclUser.password}`, "~*", "&*", "+@all");
    if (!o.password) args.push("--user", "default", "off");
  }
  if (o.tls) {
    args.push(
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--tls-cert-file",
      o.tls.serverCert,
      "--tls-key-file",
      o.tls.serverKey,
      "--tls-ca-cert-file",
      o.tls.ca,
      "--tls-auth-clients",
      "optional",
    );
  }
  return [...args, ...(o.extraArgs ?? [])];
}

function secureCliArgs(o: SecureRedisOptions): string[] {
  const args: string[] = [];
  if (o.aclUser) args.push("--user", o.aclUser.name, "--pass", o.aclUser.password, "--no-auth-warning");
  else if (o.password) args.push("-a", o.password, "--no-auth-warning");
  if (o.tls) args.push("--tls", "--cacert", o.tls.ca, "--cert", o.tls.clientCert, "--key", o.tls.clientKey);
  return args;
}

/** A standalone redis-server with a password, an ACL user and/or TLS only; node.cli() authenticates. */
export function startSecureRedis(o: SecureRedisOptions, label = "secure"): Promise<RedisNode> {
  return startNode(label, (port) => ({ args: secureArgs(o, port) }), undefined, { probe: (p) => probeAlive(p, o.tls), cliArgs: secureCliArgs(o) });
}

/** One password-protected master and one password-protected Sentinel (requirepass + auth-pass); with `tls`, both TLS only. */
export async function startSecureSentinel(o: { password: string; sentinelPassword: string; tls?: TlsFiles }, name = "sgsecure"): Promise<SentinelSetup> {
  const master = await startSecureRedis({ password: o.password, tls: o.tls }, "sentinel-master");
  const t = o.tls;
  const tlsLines = (port: number) =>
    t
      ? [
          "port 0",
          `tls-port ${port}`,
          `tls-cert-file ${t.serverCert}`,
          `tls-key-file ${t.serverKey}`,
          `tls-ca-cert-file ${t.ca}`,
          "tls-auth-clients optional",
          "tls-replication yes",
        ]
      : [`port ${port}`];
  const sentinel = await startNode(
    "sentinel",
    (port, dir) => {
      const configFile = join(dir, "sentinel.conf");
      writeFileSync(
        configFile,
        [
          ...tlsLines(port),
          `bind ${HOST}`,
          `requirepass ${o.sentinelPassword}`,
          `sentinel monitor ${name} ${HOST} ${master.port} 1`,
          `sentinel auth-pass ${name} ${o.password}`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          "",
        ].join("\n"),
      );
      // The harness' base args carry --port; with TLS the config's `port 0` must win.
      return { configFile, args: ["--sentinel", ...(t ? ["--port", "0"] : [])] };
    },
    undefined,
    { probe: (p) => probeAlive(p, t), cliArgs: ["-a", o.sentinelPassword, "--no-auth-warning", ...(t ? ["--tls", "--cacert", t.ca] : [])] },
  );
  await waitFor(`sentinel ${sentinel.port} to know ${name}`, async () =>
    (await sentinel.cli("sentinel", "get-master-addr-by-name", name)).includes(String(master.port)),
  );
  return { master, sentinel, name, sentinels: [{ host: HOST, port: sentinel.port }] };
}

/** Three password-protected masters (requirepass + masterauth), slots spread by redis-cli; with `tls`, TLS only (bus included). */
export async function startSecureRedisCluster(o: { password: string; tls?: TlsFiles }): Promise<ClusterSetup> {
  const ports = [await freeClusterPort(), await freeClusterPort(), await freeClusterPort()];
  const access: NodeAccess = { probe: (p) => probeAlive(p, o.tls), cliArgs: secureCliArgs(o) };
  const nodes = await Promise.all(
    ports.map((p) =>
      startNode(
        "cluster-secure",
        (_port, dir) => ({
          args: [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            join(dir, "nodes.conf"),
            "--cluster-node-timeout",
            "2000",
            ...secureArgs(o, p),
            ...(o.tls ? ["--tls-cluster", "yes", "--tls-replication", "yes"] : []),
          ],
        }),
        p,
        access,
      ),
    ),
  );
  return formCluster(nodes, access.cliArgs);
}
