// What a cluster looks like to its users, on one machine: a real redis-server, N gateway processes
// (node dist/main.js) and HAProxy in front following each pod's /readyz like a Kubernetes Service.
// Reusable by e2e and chaos suites: add a gateway (waits until the balancer sends it traffic),
// drain one (SIGTERM, timings from its logs, balancer state, ops probes), stop everything.
import { existsSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startGatewayProcess, type GatewayProcess, type LogLine } from "./gateway-process.js";
import { startHaproxy, type Haproxy, type HaproxyOptions, type ServerStat } from "./haproxy.js";
import { startRedis, type RedisNode } from "./redis-harness.js";

/** Cluster mode needs src/cluster/redis built into dist/: suites skip their cluster scenarios until then. */
export const clusterModeBuilt = (): boolean => existsSync(fileURLToPath(new URL("../../dist/cluster/redis/index.js", import.meta.url)));

export interface ClusterOptions {
  gateways?: number;
  /** Start redis-server and give every gateway REDIS_URL (cluster mode). Default: true. */
  redis?: boolean;
  /** Extra environment for every gateway (drain settings, limits). */
  env?: Record<string, string>;
  haproxy?: Omit<HaproxyOptions, "servers">;
  /** How long a gateway may take to log "listening" (default 15 s; a loaded shared machine may need more). */
  startTimeoutMs?: number;
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
  /** The pod's balancer counters when it left: econ or wretr > 0 means the balancer tried a closed listener. */
  balancer?: ServerStat;
}

export interface Cluster {
  /** The shared redis-server (kill / pause / restart it for chaos scenarios). */
  redis?: RedisNode;
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
  const redis = opts.redis === false ? undefined : await startRedis("cluster-fixture");
  const stopRedis = async () => {
    if (!redis) return;
    await redis.kill();
    rmSync(redis.dir, { recursive: true, force: true });
  };
  const env: Record<string, string> = { ...(redis ? { REDIS_URL: redis.url } : {}), ...opts.env };
  const started: GatewayProcess[] = [];
  const startOne = async (extra?: Record<string, string>) => {
    const gw = await startGatewayProcess({ env: { ...env, ...extra }, timeoutMs: opts.startTimeoutMs });
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
        const balancer = (await hp.stats()).get(hp.slotOf(gw) ?? "");
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
          balancer,
        };
      },
      stop: async () => {
        await Promise.allSettled(started.map((g) => g.stop()));
        await hp.stop();
        await stopRedis();
      },
    };
    return cluster;
  } catch (err) {
    await Promise.allSettled(started.map((g) => g.stop()));
    await haproxy?.stop();
    await stopRedis();
    throw err;
  }
}
