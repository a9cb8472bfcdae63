// What a cluster looks like to its users, on one machine: a real redis-server, N gateway processes
// (node dist/main.js) and HAProxy in front following each pod's /readyz like a Kubernetes Service.
// Reusable by e2e and chaos suites: add a gateway (waits until the balancer sends it traffic),
// drain one (SIGTERM, timings from its logs, balancer state, ops probes), stop everything.
import { existsSync, rmSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { startGatewayProcess, type GatewayProcess, type LogLine } from "./gateway-process.js";
import { startHaproxy, type Haproxy, type HaproxyOptions, type ServerStat } from "./haproxy.js";
import { startRedis, type RedisNode } from "./redis-harness.js";
import { metricValue } from "./metrics.js";

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
  /**
   * How starved the machine was while the pod drained: the pod's worst event-loop delay (from its
   * nodejs_eventloop_lag_max_seconds, which resets at every scrape: the maximum over scrapes taken after
   * the listener closed, up to the first one after the last transport closed) and this test process's own
   * worst delay over the whole drain (it timestamps what clients see). A timer of either process ran at
   * most this late; spread checks subtract it instead of assuming a quiet machine.
   */
  lag: { gatewayMaxMs?: number; observerMaxMs: number };
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
        const lagSamples: Array<{ at: number; lagMaxMs: number }> = [];
        let exited = false;
        // /metrics is always scraped (for the pod's event-loop delay); the other ops paths only when asked.
        const probeLoop = async () => {
          while (!exited) {
            for (const path of o.probeOps ? ["/healthz", "/metrics", "/readyz"] : ["/metrics"]) {
              const at = Date.now();
              try {
                const res = await fetch(`${gw.opsUrl}${path}`, { signal: AbortSignal.timeout(2000) });
                const body = await res.text();
                const lag = path === "/metrics" ? metricValue(body, "nodejs_eventloop_lag_max_seconds") : undefined;
                if (lag !== undefined) lagSamples.push({ at: Date.now(), lagMaxMs: lag * 1000 });
                if (!exited && o.probeOps) probes.push({ at, path, status: res.status });
              } catch {
                if (!exited && o.probeOps) probes.push({ at, path, status: "refused" });
              }
            }
            await new Promise((r) => setTimeout(r, 100));
          }
        };
        const observerLag = monitorEventLoopDelay({ resolution: 10 });
        observerLag.enable();
        const signalledAt = Date.now();
        gw.signal("SIGTERM");
        o.onSignalled?.();
        const probing = probeLoop();
        let downInBalancerAt: number | undefined;
        const down = hp.waitFor(gw, "DOWN", 30_000).then(
          () => (downInBalancerAt = Date.now()),
          () => undefined,
        );
        const exitCode = await gw.exited;
        const exitedAt = Date.now();
        exited = true;
        observerLag.disable();
        await Promise.all([probing, Promise.race([down, new Promise((r) => setTimeout(r, 1000))])]);
        const balancer = (await hp.stats()).get(hp.slotOf(gw) ?? "");
        await hp.remove(gw);
        gateways.splice(gateways.indexOf(gw), 1);
        const find = (msg: string) => gw.logs.find((l) => l.msg === msg);
        const closed = find("listener closed; closing client transports in batches");
        const listenerClosedAt = logTime(closed);
        const transportsClosedAt = logTime(find("every client transport closed"));
        return {
          gateway: gw,
          signalledAt,
          downInBalancerAt,
          listenerClosedAt,
          socketsAtListenerClose: typeof closed?.sockets === "number" ? closed.sockets : undefined,
          transportsClosedAt,
          settledAt: logTime(find("in-flight handlers finished and presence settled")),
          drainCompleteAt: logTime(find("drain complete")),
          exitedAt,
          exitCode,
          probes,
          lag: { gatewayMaxMs: gatewayLagMax(lagSamples, listenerClosedAt, transportsClosedAt), observerMaxMs: observerLag.max / 1e6 },
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

/**
 * The pod's worst event-loop delay while it closed transports: each scrape reports the maximum since the
 * previous one, so the samples taken after the listener closed, up to the first one after the last
 * transport closed, cover that stretch (and a little before it: an over-estimate, never an under-one).
 * Undefined when no scrape covers the end (the pod exited first).
 */
function gatewayLagMax(samples: Array<{ at: number; lagMaxMs: number }>, from?: number, to?: number): number | undefined {
  if (from === undefined || to === undefined) return undefined;
  const end = samples.findIndex((x) => x.at >= to);
  if (end < 0) return undefined;
  const covering = samples.slice(0, end + 1).filter((x) => x.at >= from);
  return Math.max(...covering.map((x) => x.lagMaxMs));
}
