// What a cluster looks like to its users, on one machine: a real redis-server, N gateway processes
// (node dist/main.js) and HAProxy in front following each pod's /readyz like a Kubernetes Service.
// Reusable by e2e and chaos suites: add a gateway (waits until the balancer sends it traffic),
// drain one (SIGTERM, timings from its logs, balancer state, ops probes), stop everything.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startGatewayProcess, type GatewayProcess, type LogLine } from "./gateway-process.js";
import { startHaproxy, type Haproxy, type HaproxyOptions } from "./haproxy.js";
import { freePort } from "./ports.js";

export const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? "/usr/bin/redis-server";

/** Cluster mode needs src/cluster/redis built into dist/: suites skip their cluster scenarios until then. */
export const clusterModeBuilt = (): boolean => existsSync(fileURLToPath(new URL("../../dist/cluster/redis/index.js", import.meta.url)));

export interface RedisProcess {
  url: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** A throwaway redis-server on a free loopback port, no persistence. */
export async function startRedis(): Promise<RedisProcess> {
  if (!existsSync(REDIS_BIN)) throw new Error(`${REDIS_BIN} is missing: apt-get install redis-server (npm test's pretest does it)`);
  const port = await freePort();
  const child = spawn(REDIS_BIN, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxclients", "10000"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (out.includes("Ready to accept connections")) (clearTimeout(timer), resolve());
    });
    child.once("exit", (code) => (clearTimeout(timer), reject(new Error(`redis-server exited with ${code}: ${out}`))));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

export interface ClusterOptions {
  gateways?: number;
  /** Start redis-server and give every gateway REDIS_URL (cluster mode). Default: true. */
  redis?: boolean;
  /** Extra environment for every gateway (drain settings, limits). */
  env?: Record<string, string>;
  haproxy?: Omit<HaproxyOptions, "servers">;
}

export interface OpsProbe {
  at: number;
  path: string;
  status: number | "refused";
}

export interface DrainRecord {
  gateway: GatewayProcess;
  signalledAt: number;
  /** When HAProxy marked the pod DOWN (its /readyz answered 503). */
  downInBalancerAt?: number;
  /** From the gateway's log lines (same clock). */
  listenerClosedAt?: number;
  socketsAtListenerClose?: number;
  transportsClosedAt?: number;
  settledAt?: number;
  drainCompleteAt?: number;
  exitedAt: number;
  exitCode: number | string;
  probes: OpsProbe[];
}

export interface Cluster {
  redis?: RedisProcess;
  haproxy: Haproxy;
  /** The balancer's frontend: what clients use. */
  url: string;
  /** Gateways currently behind the balancer. */
  gateways: GatewayProcess[];
  /** Every gateway ever started (for logs). */
  started: GatewayProcess[];
  env: Record<string, string>;
  /** Starts a gateway, adds it to the balancer, resolves once the balancer has marked it UP. */
  addGateway(env?: Record<string, string>): Promise<GatewayProcess>;
  /** SIGTERMs a gateway and records its drain; resolves when it has exited and left the balancer. */
  drainGateway(gw: GatewayProcess, opts?: { probeOps?: boolean; onSignalled?: () => void }): Promise<DrainRecord>;
  stop(): Promise<void>;
}

const logTime = (l: LogLine | undefined): number | undefined => (l && typeof l.time === "string" ? Date.parse(l.time) : undefined);

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const redis = opts.redis === false ? undefined : await startRedis();
  const env: Record<string, string> = { ...(redis ? { REDIS_URL: redis.url } : {}), ...opts.env };
  const started: GatewayProcess[] = [];
  const startOne = async (extra?: Record<string, string>) => {
    const gw = await startGatewayProcess({ env: { ...env, ...extra } });
    started.push(gw);
    return gw;
  };
  let haproxy: Haproxy | undefined;
  try {
    const initial = await Promise.all(Array.from({ length: opts.gateways ?? 3 }, () => startOne()));
    haproxy = await startHaproxy({ ...opts.haproxy, servers: initial });
    for (const gw of initial) await haproxy.waitFor(gw, "UP");
    const hp = haproxy;
    const gateways = [...initial];

    const cluster: Cluster = {
      redis,
      haproxy: hp,
      url: hp.url,
      gateways,
      started,
      env,
      addGateway: async (extra) => {
        const gw = await startOne(extra);
        await hp.add(gw);
        await hp.waitFor(gw, "UP", 15_000);
        gateways.push(gw);
        return gw;
      },
      drainGateway: async (gw, o = {}) => {
        const probes: OpsProbe[] = [];
        let exited = false;
        const probeLoop = async () => {
          while (!exited) {
            for (const path of ["/healthz", "/metrics", "/readyz"]) {
              const at = Date.now();
              try {
                const res = await fetch(`${gw.opsUrl}${path}`, { signal: AbortSignal.timeout(2000) });
                await res.arrayBuffer();
                if (!exited) probes.push({ at, path, status: res.status });
              } catch {
                if (!exited) probes.push({ at, path, status: "refused" });
              }
            }
            await new Promise((r) => setTimeout(r, 100));
          }
        };
        const signalledAt = Date.now();
        gw.signal("SIGTERM");
        o.onSignalled?.();
        const probing = o.probeOps ? probeLoop() : Promise.resolve();
        let downInBalancerAt: number | undefined;
        const down = hp.waitFor(gw, "DOWN", 30_000).then(
          () => (downInBalancerAt = Date.now()),
          () => undefined,
        );
        const exitCode = await gw.exited;
        const exitedAt = Date.now();
        exited = true;
        await Promise.all([probing, Promise.race([down, new Promise((r) => setTimeout(r, 1000))])]);
        await hp.remove(gw);
        gateways.splice(gateways.indexOf(gw), 1);
        const find = (msg: string) => gw.logs.find((l) => l.msg === msg);
        const closed = find("listener closed; closing client transports in batches");
        return {
          gateway: gw,
          signalledAt,
          downInBalancerAt,
          listenerClosedAt: logTime(closed),
          socketsAtListenerClose: typeof closed?.sockets === "number" ? closed.sockets : undefined,
          transportsClosedAt: logTime(find("every client transport closed")),
          settledAt: logTime(find("in-flight handlers finished and presence settled")),
          drainCompleteAt: logTime(find("drain complete")),
          exitedAt,
          exitCode,
          probes,
        };
      },
      stop: async () => {
        await Promise.allSettled(started.map((g) => g.stop()));
        await hp.stop();
        await redis?.stop();
      },
    };
    return cluster;
  } catch (err) {
    await Promise.allSettled(started.map((g) => g.stop()));
    await haproxy?.stop();
    await redis?.stop();
    throw err;
  }
}
