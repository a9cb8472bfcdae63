#!/usr/bin/env node
// socketgate benchmark suite: starts each system under test as its own process (pinned to core 0,
// the load generator — this process — to core 1, when taskset works), runs the same scenarios
// against each, and prints one side-by-side table. Results: tests/bench/results/latest.{json,md,svg}.
//   npm run bench                 full run (3 repetitions of timed scenarios, medians)
//   npm run bench -- --quick      one repetition, short windows (< 2 minutes)
//   --only=raw-uws,socketgate     only these stacks    --scenarios=fanout,echo   only these scenarios
//   --mem-levels=1000,5000        idle-memory levels    --cpu-prof=<dir>          node --cpu-prof on socketgate pods
//   --no-write                    do not overwrite results/latest.*
//   --only=socketgate,socketgate-node20-trixie,socketgate-node24   uWS v20.30 + Node 20 (host) against v20.57 under Node 20 and 24 (trixie rootfs; root)
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connRate, echo, fanoutSession, memory } from "./loadgen/scenarios.mjs";
import { pusherProtocol, socketIoProtocol } from "./loadgen/protocols.mjs";
import { freePort, hasTaskset, httpGet, killAll, pinAllThreads, pinSelf, rssKiB, startProcess } from "./lib/proc.mjs";
import { median, round } from "./lib/stats.mjs";
import { childrenOf, missingPrerequisite, prepareProductionRoot, productionLaunch, removeApp } from "../runtime/production-rootfs.mjs";
import { renderMarkdown, renderSvg, goals } from "./report.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
// 10,000 idle connections need 10,000+ descriptors here and in each server: re-run this process under a
// raised soft limit (the servers inherit it; startProcess raises theirs as well) when it is too low.
const NOFILE = 65536;
if (!process.env.BENCH_NOFILE_RAISED) {
  const soft = Number(spawnSync("sh", ["-c", "ulimit -Sn"], { encoding: "utf8" }).stdout.trim());
  if (Number.isFinite(soft) && soft < 25_000) {
    const r = spawnSync("sh", ["-c", `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$0" "$@"`, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: "inherit",
      env: { ...process.env, BENCH_NOFILE_RAISED: "1" },
    });
    process.exit(r.status ?? 1);
  }
}
/** BENCH_ROOT: another checkout's built gateway (before/after comparisons); default this repository. */
const ROOT = process.env.BENCH_ROOT ?? join(HERE, "..", "..");
const args = new Map(process.argv.slice(2).map((a) => { const [k, v] = a.replace(/^--/, "").split("="); return [k, v ?? "1"]; }));
const QUICK = args.has("quick");
const ONLY = args.get("only")?.split(",");
const SCEN = args.get("scenarios")?.split(",");
const SECRET = "bench-secret-0123456789-0123456789-abcdef";
const SERVER_CORE = 0;
const LOADGEN_CORE = 1;
/** No new stack starts after this (its row says so); the hard limit kills everything as a last resort. */
const BUDGET_MS = Number(args.get("budget-s") ?? (QUICK ? 100 : 25 * 60)) * 1000;
const HARD_LIMIT_MS = BUDGET_MS + (QUICK ? 90_000 : 10 * 60_000);

const DRAIN = args.get("drain-ms");
// Quick mode runs only what the goal table needs (goalOnly) with one short repetition: < 2 minutes.
const P = QUICK
  ? { reps: 1, fanMs: 1500, rates: [100, 1000], allRates: [], memLevels: [1000, 3000], memSettleMs: 1000, conns: 500, echoMs: 1500, overload: false, drainMs: 5000, goalOnly: true }
  : { reps: 3, fanMs: 3000, rates: [20, 100, 1000], allRates: [1000], memLevels: [1000, 5000, 10000], memSettleMs: 1500, conns: 3000, echoMs: 3000, overload: true, drainMs: 8000, goalOnly: false };
if (DRAIN) P.drainMs = Number(DRAIN);
if (args.get("rates")) P.rates = args.get("rates").split(",").map(Number);
if (args.get("mem-levels")) P.memLevels = args.get("mem-levels").split(",").map(Number);
if (args.get("reps")) P.reps = Number(args.get("reps"));
if (args.has("overload")) P.overload = true;
const CPU_PROF = args.get("cpu-prof");
const SUBS = 1000;
/**
 * Overload: 20 of 200 subscribers stop reading while 1,000 msg/s of 2 KiB bodies go out for 6 s: 12 MB
 * per stalled reader, well past what loopback absorbs for a reader that does not read (its receive
 * buffer stays at tcp_rmem's default, 128 KiB, plus up to tcp_wmem's 4 MiB on the sending side) and
 * the 1 MiB per-socket limit. 512 B bodies (3 MB per reader) fitted in the kernel's buffers: no stack
 * was ever overloaded. Fewer subscribers keep the 180 readers' 360 MB/s within the load generator's core.
 */
const OVERLOAD = { subs: 200, rate: Number(args.get("overload-rate") ?? 1000), durationMs: 6000, bodyBytes: 2048, slow: 20, limitBytes: 256 * 1024, holdMs: 10_000 };

const log = (...a) => console.error(`[bench +${((performance.now() - T0) / 1000).toFixed(1)}s]`, ...a);
const T0 = performance.now();
const hardStop = setTimeout(() => {
  log(`hard time limit ${HARD_LIMIT_MS} ms reached: killing everything`);
  killAll();
  process.exit(2);
}, HARD_LIMIT_MS);
hardStop.unref();

const nodeBin = process.execPath;
const healthReady = (port) => async () => (await httpGet(`http://127.0.0.1:${port}/health`, 500)).status === 200;

async function startRedis() {
  const port = await freePort();
  const proc = await startProcess({
    name: "redis",
    cmd: "redis-server",
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
    core: SERVER_CORE,
    ready: (out) => /Ready to accept connections/.test(out),
  });
  return { url: `redis://127.0.0.1:${port}`, proc };
}

async function startNodeServer(name, script, extraEnv = {}) {
  const port = await freePort();
  const proc = await startProcess({ name, cmd: nodeBin, args: [script], env: { PORT: String(port), NODE_ENV: "production", ...extraEnv }, core: SERVER_CORE, ready: healthReady(port) });
  return { proc, port };
}

const gatewayEnv = (port, opsPort) => ({
  NODE_ENV: "production",
  HOST: "127.0.0.1",
  PORT: String(port),
  OPS_PORT: String(opsPort),
  JWT_SECRET: SECRET,
  MAX_CONNECTIONS: "30000",
  RATE_LIMIT_EVENTS_PER_S: "100000",
  RATE_LIMIT_BURST: "1000000",
  LOG_LEVEL: "warn",
});

async function startGateway(name, extraEnv = {}, nodeArgs = []) {
  const port = await freePort();
  const opsPort = await freePort();
  const env = { ...gatewayEnv(port, opsPort), ...extraEnv };
  if (CPU_PROF) nodeArgs = [...nodeArgs, "--cpu-prof", `--cpu-prof-dir=${CPU_PROF}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`];
  const proc = await startProcess({ name, cmd: nodeBin, args: [...nodeArgs, join(ROOT, "dist", "main.js")], env, core: SERVER_CORE, ready: healthReady(port) });
  // --cpu-prof writes on a normal exit only: stop with SIGTERM (the gateway drains and exits 0).
  if (CPU_PROF) proc.stop = stopGently(proc);
  return { proc, port, opsPort };
}

/**
 * The gateway as the image runs it: Node 24 and the current uWS build (v20.57) in the runtime tier's
 * Debian trixie root filesystem (tests/runtime/production-rootfs.mjs; root only, cached there), on the
 * same core and with the same settings as `startGateway`, which runs Node 20 + the legacy build here.
 */
const startGatewayInRootfs = (nodeMajor) => async (name, extraEnv = {}) => {
  const prod = prepareProductionRoot((line) => log(`${name}: ${line}`), { nodeMajor });
  const port = await freePort();
  const opsPort = await freePort();
  const env = { ...gatewayEnv(port, opsPort), HOME: "/tmp", ...extraEnv };
  const launch = productionLaunch(prod);
  const proc = await startProcess({ name, cmd: launch.command, args: launch.args, env, core: SERVER_CORE, ready: healthReady(port), timeoutMs: 60_000 });
  // unshare -> tini -> node: measure (RSS, CPU) the node process; stop() still kills the whole namespace.
  const tini = childrenOf(proc.pid)[0];
  const nodePid = tini === undefined ? undefined : childrenOf(tini)[0];
  if (nodePid === undefined) throw new Error(`${name}: no node process under ${proc.pid}`);
  const { body } = await httpGet(`http://127.0.0.1:${opsPort}/metrics`, 5000);
  const build = /^socketgate_uws_build_info\{build="(\w+)",version="([\d.]+)"\} 1$/m.exec(body);
  log(`${name}: Node ${prod.node.version}, glibc ${prod.glibc}, uWS build ${build?.[1]} v${build?.[2]}, native ${/^socketgate_uws_native 1$/m.test(body)}`);
  proc.pid = nodePid;
  const stop = proc.stop;
  proc.stop = async () => {
    await stop();
    removeApp(prod);
  };
  return { proc, port, opsPort };
};

const stopGently = (proc) => async () => {
  if (proc.exited) return;
  try {
    process.kill(proc.pid, "SIGTERM");
  } catch {}
  for (let i = 0; i < 300 && !proc.exited; i++) await new Promise((r) => setTimeout(r, 100));
  if (!proc.exited) process.kill(proc.pid, "SIGKILL");
};

const SOKETI = { id: "bench-app", key: "bench-key", secret: "bench-secret" };
async function startSoketi() {
  const port = await freePort();
  const metricsPort = await freePort();
  const env = {
    SOKETI_HOST: "127.0.0.1",
    SOKETI_PORT: String(port),
    SOKETI_METRICS_SERVER_PORT: String(metricsPort),
    SOKETI_DEFAULT_APP_ID: SOKETI.id,
    SOKETI_DEFAULT_APP_KEY: SOKETI.key,
    SOKETI_DEFAULT_APP_SECRET: SOKETI.secret,
    SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES: "true",
    SOKETI_DEFAULT_APP_MAX_CONNS: "-1",
    SOKETI_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC: "-1",
    NODE_ENV: "production",
  };
  const proc = await startProcess({ name: "soketi", cmd: nodeBin, args: [SOKETI_BIN, "start"], env, core: SERVER_CORE, ready: async () => (await httpGet(`http://127.0.0.1:${port}/`, 500)).body === "OK", cwd: join(HERE, "peers"), timeoutMs: 60_000 });
  return { procs: [proc], endpoints: [{ port }] };
}
const SOKETI_BIN = join(HERE, "peers", "node_modules", "@soketi", "soketi", "bin", "server.js");

async function gatewayCounters(opsPorts) {
  let delivered = 0, slowCuts = 0;
  for (const p of opsPorts) {
    const { body } = await httpGet(`http://127.0.0.1:${p}/metrics`, 10_000);
    delivered += Number(/^socketgate_messages_delivered_total (\S+)/m.exec(body)?.[1] ?? NaN);
    slowCuts += Number(/^socketgate_slow_consumer_disconnects_total (\S+)/m.exec(body)?.[1] ?? NaN);
  }
  return { delivered, slowCuts };
}

/** Each stack: how to start it (pods), the protocol, which fan-out kinds it can do, notes. */
function stacks(redisUrl) {
  const gwBuilt = existsSync(join(ROOT, "dist", "main.js"));
  const clusterBuilt = existsSync(join(ROOT, "dist", "cluster", "redis", "index.js"));
  const sio = socketIoProtocol();
  const sioAuth = socketIoProtocol({ jwtSecret: SECRET });
  const S = join(HERE, "servers");
  const gw = (pods, redis, start = startGateway) => async (extra = {}) => {
    const started = [];
    const env = { ...(redis ? { REDIS_URL: redisUrl } : {}), ...(extra.slowConsumerBytes ? { SLOW_CONSUMER_BUFFER_BYTES: String(extra.slowConsumerBytes) } : {}) };
    for (let i = 0; i < pods; i++) started.push(await start(`socketgate-${i}`, env));
    return { procs: started.map((s) => s.proc), endpoints: started.map((s) => ({ port: s.port })), counters: () => gatewayCounters(started.map((s) => s.opsPort)) };
  };
  const node = (script, env = () => ({}), pods = 1) => async (extra = {}) => {
    const started = [];
    const limit = extra.slowConsumerBytes ? { MAX_BACKPRESSURE: String(extra.slowConsumerBytes * 4) } : {};
    for (let i = 0; i < pods; i++) started.push(await startNodeServer(script, join(S, script), { ...env(), ...limit }));
    return { procs: started.map((s) => s.proc), endpoints: started.map((s) => ({ port: s.port })) };
  };
  const noGw = !gwBuilt ? "dist/main.js missing: run npm run build" : undefined;
  const noCluster = noGw ?? (clusterBuilt ? undefined : "cluster mode not built (dist/cluster/redis/index.js missing)");
  // scenarios: what each stack runs in a full run; goal: the subset the goal table needs (quick mode).
  const ALL = ["memory", "connrate", "fanout", "overload", "echo"];
  return [
    { id: "socketgate", label: "socketgate embedded", proto: sioAuth, kinds: ["except"], start: gw(1, false), auth: true, skip: noGw, scenarios: ALL, goal: ["memory", "connrate", "fanout", "echo"] },
    { id: "socketgate-node24", label: "socketgate embedded, Node 24 + current uWS build (v20.57) in the Debian trixie rootfs (tests/runtime)", proto: sioAuth, kinds: ["except"], start: gw(1, false, startGatewayInRootfs("24")), auth: true, skip: noGw ?? missingPrerequisite(), scenarios: ["memory", "connrate", "fanout", "echo"], goal: ["memory", "fanout", "echo"], experiment: true, note: "same build and settings as socketgate (Node 20 + uWS v20.30 on this host), run as the image runs it" },
    { id: "socketgate-node20-trixie", label: "socketgate embedded, Node 20 + current uWS build (v20.57) in the Debian trixie rootfs: separates the uWS upgrade from the Node upgrade", proto: sioAuth, kinds: ["except"], start: gw(1, false, startGatewayInRootfs("20")), auth: true, skip: noGw ?? missingPrerequisite(), scenarios: ["memory", "connrate", "fanout", "echo"], goal: ["memory", "fanout", "echo"], experiment: true },
    { id: "socketgate-cluster-2", label: "socketgate cluster (Redis), 2 pods, cross-pod fan-out", proto: sioAuth, kinds: ["except"], start: gw(2, true), auth: true, needsRedis: true, skip: noCluster, scenarios: ["fanout"], goal: ["fanout"], goalRates: [1000] },
    { id: "socketgate-cluster-1", label: "socketgate cluster (Redis), 1 pod", proto: sioAuth, kinds: ["except"], start: gw(1, true), auth: true, needsRedis: true, skip: noCluster, scenarios: ["fanout", "echo"], goal: ["fanout"] },
    { id: "raw-uws", label: "raw uWS native pub/sub (ceiling)", proto: sio, kinds: ["except", "all"], start: node("raw-uws.mjs"), auth: false, scenarios: ALL, goal: ["fanout"], goalRates: [1000] },
    { id: "raw-uws-deferred", label: "raw uWS, ws.publish deferred to setImmediate (out of the sender's corked callback): the better ceiling", proto: sio, kinds: ["except"], start: node("raw-uws.mjs", () => ({ RAW_DEFER: "1" })), auth: false, scenarios: ["fanout"], goal: ["fanout"], goalRates: [1000] },
    { id: "raw-uws-unsub", label: "raw uWS, sender excluded by unsubscribe + app.publish + subscribe (experiment)", proto: sio, kinds: ["except"], start: node("raw-uws.mjs", () => ({ RAW_EXCEPT: "unsubscribe" })), auth: false, scenarios: ["fanout"], goal: [], experiment: true },
    { id: "sio-uws", label: "Socket.IO 4.8 on uWS (attachApp)", proto: sio, kinds: ["except", "all"], start: node("sio-uws.mjs"), auth: false, scenarios: ["memory", "connrate", "fanout", "echo"], goal: ["echo"] },
    { id: "sio-uws-redis", label: "Socket.IO on uWS + classic redis-adapter, 1 node", proto: sio, kinds: ["except", "all"], start: node("sio-uws.mjs", () => ({ REDIS_URL: redisUrl })), auth: false, needsRedis: true, scenarios: ["fanout", "echo"], goal: ["fanout"], goalRates: [1000] },
    { id: "sio-ws", label: "Socket.IO 4.8 on Node http + ws (default)", proto: sio, kinds: ["except", "all"], start: node("sio-ws.mjs"), auth: false, scenarios: ALL, goal: ["connrate", "fanout"], goalRates: [1000] },
    {
      id: "soketi",
      label: "Soketi 1.6 (Pusher protocol, private channel, client events)",
      proto: pusherProtocol({ appKey: SOKETI.key, appSecret: SOKETI.secret }),
      kinds: ["except"],
      start: startSoketi,
      auth: false,
      skip: existsSync(SOKETI_BIN) ? undefined : "not installed: (cd tests/bench/peers && npm install)",
      scenarios: ["memory", "connrate", "fanout", "overload"],
      goal: ["fanout"],
      goalRates: [1000],
      note: "Pusher has no acks (no echo scenario); channel auth is an HMAC signed by the load generator",
    },
  ];
}

/** One repetition of every scenario of a stack on a fresh instance (the overload only in the last one). */
async function runStack(stack, rep) {
  const want = (sc) => (!SCEN || SCEN.includes(sc)) && (P.goalOnly ? stack.goal : stack.scenarios).includes(sc);
  const rates = P.goalOnly && stack.goalRates ? stack.goalRates : P.rates;
  const out = { id: stack.id, label: stack.label, auth: stack.auth, fanout: {}, notes: stack.note ? [stack.note] : [] };
  log(`== ${stack.id}: starting (repetition ${rep + 1} of ${P.reps})`);
  const sut = await stack.start();
  const pids = sut.procs.map((p) => p.pid);
  out.pinned = sut.procs.every((p) => p.pinned && pinAllThreads(p.pid, SERVER_CORE));
  out.pods = sut.procs.length;
  const proto = stack.proto;
  proto.prepare?.(0, SUBS + 1);
  proto.prepare?.(100_000, 100);
  proto.prepare?.(200_000, P.conns);
  proto.prepare?.(300_000, Math.max(...P.memLevels));
  try {
    const singleEp = [sut.endpoints[0]];
    if (want("memory")) {
      log(`${stack.id}: memory ${P.memLevels.join("/")}`);
      out.memory = await memory(proto, singleEp, { levels: P.memLevels, pid: pids[0], settleMs: P.memSettleMs });
    }
    if (want("connrate")) {
      log(`${stack.id}: connection rate x${P.conns}`);
      out.connrate = await connRate(proto, singleEp, { count: P.conns, pids: [pids[0]] });
    }
    if (want("fanout")) {
      const session = await fanoutSession(proto, sut.endpoints, { subs: SUBS });
      try {
        for (const kind of stack.kinds) {
          for (const rate of kind === "all" ? P.allRates : rates) {
            const reps = [];
            {
              const before = sut.counters ? await sut.counters() : undefined;
              const res = await session.run({ rate, durationMs: P.fanMs, kind, pids, drainMs: P.drainMs });
              if (before) {
                const after = await sut.counters();
                res.serverCountedDeliveries = after.delivered - before.delivered;
                res.serverCountedSlowCuts = after.slowCuts - before.slowCuts;
              }
              log(`${stack.id}: fanout ${kind} ${rate}/s -> ${res.deliveredPerS}/s, p50 ${res.latencyMs.p50} p99 ${res.latencyMs.p99} ms, lost ${res.lost}, cpu loadgen ${res.loadgenCpuPct}% server ${res.serverCpuPct.join("+")}%`);
              reps.push(res);
            }
            out.fanout[`${kind}@${rate}`] = summarizeReps(reps);
          }
        }
      } finally {
        await session.close();
      }
    }
    if (want("echo") && proto.hasAcks) {
      out.echo = summarizeReps([await echo(proto, singleEp, { clients: 100, durationMs: P.echoMs, pids: [pids[0]] })], "opsPerS");
      // Server CPU per op as well: under contention from other processes it moves far less than ops/s.
      const cpuPct = out.echo.serverCpuPct?.[0];
      const usPerOp = cpuPct !== undefined && out.echo.opsPerS > 0 ? Math.round((cpuPct / 100 / out.echo.opsPerS) * 1e6) : undefined;
      log(`${stack.id}: echo ${out.echo.opsPerS} ops/s${usPerOp === undefined ? "" : `, server CPU ${cpuPct} % = ${usPerOp} µs/op`}`);
    }
  } finally {
    for (const p of sut.procs) {
      if (p.exited) out.notes.push(`${p.name} exited during the run: ${p.output().slice(-500)}`);
      await p.stop();
    }
  }
  return out;
}

/**
 * Overload on a fresh instance with a smaller per-socket buffer (gateway: SLOW_CONSUMER_BUFFER_BYTES 256 KiB,
 * so its hard limit is 1 MiB; baselines: maxBackpressure 1 MiB, Soketi's own fixed value): the kernel's socket
 * buffers absorb a few MB per paused reader, and more bytes per reader would mean GB/s to the 980 others.
 */
async function overload(stack, out) {
  log(`${stack.id}: overload (fresh instance)`);
  const sut = await stack.start({ slowConsumerBytes: OVERLOAD.limitBytes });
  const pids = sut.procs.map((p) => p.pid);
  const proto = stack.proto;
  try {
    {
      const session = await fanoutSession(proto, sut.endpoints, { subs: OVERLOAD.subs, slow: OVERLOAD.slow });
      try {
        const before = sut.counters ? await sut.counters() : undefined;
        const rss0 = pids.map(rssKiB);
        const res = await session.run({ rate: OVERLOAD.rate, durationMs: OVERLOAD.durationMs, kind: "except", pids, drainMs: 30_000, quietMs: 2000, bodyPad: OVERLOAD.bodyBytes, slowHoldMs: OVERLOAD.holdMs });
        res.serverRssGrowthKiB = pids.map((p, i) => rssKiB(p) - rss0[i]);
        if (before) {
          const after = await sut.counters();
          res.serverCountedSlowCuts = after.slowCuts - before.slowCuts;
          res.serverCountedDeliveries = after.delivered - before.delivered;
        }
        const a = res.accounting;
        log(`${stack.id}: overload -> sent ${res.sent}, acked ${res.acked}, offered ${a.offered}, delivered ${a.delivered}, missing at ${a.closedSubscribers} closed subscribers ${a.missingAtClosedSubscribers}, missing at open ones ${a.missingAtOpenSubscribers}, holes ${a.holes}, server-counted cuts ${res.serverCountedSlowCuts ?? "n/a"}`);
        out.overload = res;
      } finally {
        await session.close();
      }
    }
  } catch (err) {
    out.notes.push(`overload failed: ${String(err.message ?? err).slice(0, 300)}`);
    log(`!! ${stack.id} overload failed: ${err.stack ?? err}`);
  } finally {
    for (const p of sut.procs) await p.stop();
  }
}

/** Median of each numeric headline over repetitions; keeps every repetition for the JSON. */
function summarizeReps(reps, key = "deliveredPerS") {
  if (reps.length === 1) return { ...reps[0], runs: 1 };
  const sorted = [...reps].sort((a, b) => a[key] - b[key]);
  const mid = sorted[sorted.length >> 1];
  const res = { ...mid, runs: reps.length, [`${key}All`]: reps.map((r) => r[key]) };
  if (mid.latencyMs) res.latencyMs = { ...mid.latencyMs, p50: median(reps.map((r) => r.latencyMs.p50)), p99: median(reps.map((r) => r.latencyMs.p99)), max: Math.max(...reps.map((r) => r.latencyMs.max ?? 0)) };
  if ("lost" in mid) res.lostAll = reps.map((r) => r.lost);
  return res;
}

/**
 * Folds the repetitions of one stack (each on a fresh instance, interleaved with the other stacks so
 * the machine's drift hits all alike) into one result: medians of every headline, every repetition
 * kept (`...All`), none dropped.
 */
function mergeRepetitions(outs) {
  const first = outs[0];
  const merged = { ...first, repetitions: outs.length, notes: [...new Set(outs.flatMap((o) => o.notes))], pinned: outs.every((o) => o.pinned) };
  merged.fanout = {};
  for (const key of Object.keys(first.fanout)) merged.fanout[key] = summarizeReps(outs.map((o) => o.fanout[key]).filter(Boolean));
  const echoes = outs.map((o) => o.echo).filter(Boolean);
  if (echoes.length) merged.echo = summarizeReps(echoes, "opsPerS");
  const rates = outs.map((o) => o.connrate).filter(Boolean);
  if (rates.length) merged.connrate = summarizeReps(rates, "connPerS");
  const mems = outs.map((o) => o.memory).filter(Boolean);
  if (mems.length) {
    const lastKiB = (m) => m.perConn.at(-1)?.kibPerConn ?? NaN;
    const mid = [...mems].sort((a, b) => lastKiB(a) - lastKiB(b))[mems.length >> 1];
    merged.memory = {
      ...mid,
      perConn: mid.perConn.map((p, i) => ({ ...p, kibPerConn: median(mems.map((m) => m.perConn[i]?.kibPerConn ?? NaN)) })),
      kibPerConnSlope: median(mems.map((m) => m.kibPerConnSlope ?? NaN)),
      kibPerConnAll: mems.map(lastKiB),
      slopeAll: mems.map((m) => m.kibPerConnSlope),
      runs: mems.length,
    };
  }
  merged.overload = outs.map((o) => o.overload).find(Boolean);
  return merged;
}

async function main() {
  const pinnedSelf = pinSelf(LOADGEN_CORE);
  const machine = {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memGiB: round(os.totalmem() / 2 ** 30, 1),
    kernel: os.release(),
    node: process.version,
    taskset: hasTaskset(),
    pinning: pinnedSelf ? `servers + redis on core ${SERVER_CORE}, load generator on core ${LOADGEN_CORE}` : "not pinned (taskset unavailable)",
    loadavgAtStart: os.loadavg().map((x) => round(x, 2)),
    /** Other processes' share of the machine during the run: the 1-minute load average sampled every 10 s. */
    loadavgSamples: [],
    nofile: Number(spawnSync("sh", ["-c", "ulimit -Sn"], { encoding: "utf8" }).stdout.trim()),
  };
  log(`mode ${QUICK ? "quick" : "full"}; ${machine.cores} cores; ${machine.pinning}`);
  const loadSampler = setInterval(() => machine.loadavgSamples.push(round(os.loadavg()[0], 2)), 10_000);
  loadSampler.unref();
  const git = (...a) => spawnSync("git", a, { cwd: ROOT, encoding: "utf8" }).stdout.trim();
  let redis;
  const results = { startedAt: new Date().toISOString(), commit: `${git("rev-parse", "--short", "HEAD")}${git("status", "--porcelain", "--untracked-files=no") ? " (with uncommitted changes)" : ""}`, mode: QUICK ? "quick" : "full", params: { ...P, subscribers: SUBS, overload: OVERLOAD }, machine, stacks: [], skipped: [] };
  try {
    const all = stacks("redis://pending");
    const selected = all.filter((s) => !ONLY || ONLY.includes(s.id));
    if (selected.some((s) => s.needsRedis && !s.skip)) {
      try {
        redis = await startRedis();
      } catch (err) {
        log(`redis-server unavailable: ${err.message}`);
      }
    }
    const runnable = [];
    for (const s of stacks(redis?.url ?? "")) {
      if (ONLY ? !ONLY.includes(s.id) : s.experiment) continue; // experiments run only when named
      const reason = s.skip ?? (s.needsRedis && !redis ? "redis-server not available" : performance.now() - T0 > BUDGET_MS ? `time budget (${BUDGET_MS / 1000} s) used up: run it with --only=${s.id}` : undefined);
      if (reason) {
        log(`-- ${s.id} skipped: ${reason}`);
        results.skipped.push({ id: s.id, label: s.label, reason });
        continue;
      }
      runnable.push(s);
    }
    // Interleaved: repetition r of every stack, then repetition r + 1, so slow drift of a shared
    // machine (other jobs, thermal) is spread over every stack instead of landing on a few.
    const perStack = new Map(runnable.map((s) => [s.id, []]));
    const failed = new Set();
    for (let rep = 0; rep < P.reps; rep++) {
      for (const s of runnable) {
        if (failed.has(s.id)) continue;
        if (rep > 0 && performance.now() - T0 > BUDGET_MS) {
          log(`-- ${s.id}: repetition ${rep + 1} skipped (time budget used up)`);
          continue;
        }
        try {
          perStack.get(s.id).push(await runStack(s, rep));
        } catch (err) {
          log(`!! ${s.id} failed: ${err.stack ?? err}`);
          failed.add(s.id);
          results.skipped.push({ id: s.id, label: s.label, reason: `failed: ${String(err.message ?? err).slice(0, 300)}` });
        }
      }
    }
    for (const s of runnable) {
      const outs = perStack.get(s.id);
      if (failed.has(s.id) || !outs.length) continue;
      const merged = mergeRepetitions(outs);
      // Overload once per stack, after the repetitions (a fresh instance with a smaller per-socket buffer),
      // so a time budget that cuts repetitions never silently skips it.
      const wantsOverload = P.overload && (!SCEN || SCEN.includes("overload")) && (P.goalOnly ? s.goal : s.scenarios).includes("overload");
      if (wantsOverload) await overload(s, merged);
      results.stacks.push(merged);
    }
  } finally {
    await redis?.proc.stop();
  }
  results.machine.loadavgAtEnd = os.loadavg().map((x) => round(x, 2));
  results.durationS = round((performance.now() - T0) / 1000, 1);
  results.goals = goals(results);
  const md = renderMarkdown(results);
  console.log(md);
  if (!args.has("no-write")) {
    const dir = join(HERE, "results");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "latest.json"), JSON.stringify(results, null, 2) + "\n");
    writeFileSync(join(dir, "latest.md"), md);
    writeFileSync(join(dir, "latest.svg"), renderSvg(results));
    log(`wrote ${join("tests/bench/results", "latest.{json,md,svg}")}`);
  }
  killAll();
  process.exit(0);
}

main().catch((err) => {
  log(`bench failed: ${err.stack ?? err}`);
  killAll();
  process.exit(1);
});
