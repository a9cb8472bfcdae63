#!/usr/bin/env node
// socketgate benchmark suite: starts each system under test as its own process (pinned to core 0,
// the load generator — this process — to core 1, when taskset works), runs the same scenarios
// against each, and prints one side-by-side table. Results: tests/bench/results/latest.{json,md,svg}.
//   npm run bench                 full run (3 repetitions of timed scenarios, medians)
//   npm run bench -- --quick      one repetition, short windows (< 2 minutes)
//   --only=raw-uws,socketgate     only these stacks    --scenarios=fanout,echo   only these scenarios
//   --no-write                    do not overwrite results/latest.*
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connRate, echo, fanoutSession, memory } from "./loadgen/scenarios.mjs";
import { socketIoProtocol } from "./loadgen/protocols.mjs";
import { freePort, hasTaskset, httpGet, killAll, pinSelf, startProcess } from "./lib/proc.mjs";
import { median, round } from "./lib/stats.mjs";
import { renderMarkdown, renderSvg, goals } from "./report.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
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
const P = QUICK
  ? { reps: 1, fanMs: 1500, rates: [100, 1000], allRates: [1000], memLevels: [1000, 2000], memSettleMs: 1000, conns: 300, echoMs: 1500, overload: false, drainMs: 6000 }
  : { reps: 3, fanMs: 5000, rates: [20, 100, 1000], allRates: [100, 1000], memLevels: [1000, 5000, 10000], memSettleMs: 1500, conns: 3000, echoMs: 5000, overload: true, drainMs: 10000 };
if (DRAIN) P.drainMs = Number(DRAIN);
if (args.get("rates")) P.rates = args.get("rates").split(",").map(Number);
const SUBS = 1000;

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

async function startGateway(name, extraEnv = {}, nodeArgs = []) {
  const port = await freePort();
  const opsPort = await freePort();
  const env = {
    NODE_ENV: "production",
    HOST: "127.0.0.1",
    PORT: String(port),
    OPS_PORT: String(opsPort),
    JWT_SECRET: SECRET,
    MAX_CONNECTIONS: "30000",
    RATE_LIMIT_EVENTS_PER_S: "100000",
    RATE_LIMIT_BURST: "1000000",
    LOG_LEVEL: "warn",
    ...extraEnv,
  };
  const proc = await startProcess({ name, cmd: nodeBin, args: [...nodeArgs, join(ROOT, "dist", "main.js")], env, core: SERVER_CORE, ready: healthReady(port) });
  return { proc, port, opsPort };
}

async function gatewayCounters(opsPorts) {
  let delivered = 0, slowCuts = 0;
  for (const p of opsPorts) {
    const { body } = await httpGet(`http://127.0.0.1:${p}/metrics`, 2000);
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
  // Until gateway.ts wires src/transport/native-broadcast.ts, the bench installs it with a preload
  // (right after attachApp, as the wiring would) so both variants are measured side by side.
  const wired = gwBuilt && readFileSync(join(ROOT, "dist", "gateway.js"), "utf8").includes("installNativeBroadcast");
  const nativeBuilt = existsSync(join(ROOT, "dist", "transport", "native-broadcast.js"));
  const preload = ["--import", join(HERE, "lib", "native-broadcast-preload.mjs")];
  const gw = (pods, redis, nodeArgs = !wired && nativeBuilt ? preload : []) => async () => {
    const started = [];
    for (let i = 0; i < pods; i++) started.push(await startGateway(`socketgate-${i}`, redis ? { REDIS_URL: redisUrl } : {}, nodeArgs));
    return { procs: started.map((s) => s.proc), endpoints: started.map((s) => ({ port: s.port })), counters: () => gatewayCounters(started.map((s) => s.opsPort)) };
  };
  const node = (script, env = () => ({}), pods = 1) => async () => {
    const started = [];
    for (let i = 0; i < pods; i++) started.push(await startNodeServer(script, join(S, script), env()));
    return { procs: started.map((s) => s.proc), endpoints: started.map((s) => ({ port: s.port })) };
  };
  return [
    { id: "socketgate", label: "socketgate embedded", proto: sioAuth, kinds: ["except"], start: gw(1, false), auth: true, skip: gwBuilt ? undefined : "dist/main.js missing: run npm run build" },
    { id: "socketgate-cluster-2", label: "socketgate cluster (Redis), 2 pods, cross-pod fan-out", proto: sioAuth, kinds: ["except"], start: gw(2, true), auth: true, needsRedis: true, fanoutOnly: true, skip: !gwBuilt ? "dist/main.js missing" : clusterBuilt ? undefined : "cluster mode not built yet (dist/cluster/redis/index.js missing)" },
    { id: "raw-uws", label: "raw uWS native pub/sub (ceiling)", proto: sio, kinds: ["except", "all"], start: node("raw-uws.mjs"), auth: false },
    { id: "sio-uws", label: "Socket.IO 4.8 on uWS (attachApp)", proto: sio, kinds: ["all", "except"], start: node("sio-uws.mjs"), auth: false },
    { id: "sio-ws", label: "Socket.IO 4.8 on Node http + ws (default)", proto: sio, kinds: ["except", "all"], start: node("sio-ws.mjs"), auth: false },
    { id: "sio-uws-redis", label: "Socket.IO on uWS + classic redis-adapter, 1 node", proto: sio, kinds: ["except", "all"], start: node("sio-uws.mjs", () => ({ REDIS_URL: redisUrl })), auth: false, needsRedis: true },
    { id: "socketgate-no-native", label: "socketgate embedded, without the native sender-excluded path", proto: sioAuth, kinds: ["except"], start: gw(1, false, []), auth: true, fanoutOnly: true, skip: !gwBuilt ? "dist/main.js missing" : wired ? "native path wired in gateway.ts: no off switch" : undefined },
    { id: "socketgate-cluster-1", label: "socketgate cluster (Redis), 1 pod", proto: sioAuth, kinds: ["except"], start: gw(1, true), auth: true, needsRedis: true, skip: !gwBuilt ? "dist/main.js missing" : clusterBuilt ? undefined : "cluster mode not built yet (dist/cluster/redis/index.js missing)" },
  ];
}

const want = (s) => !SCEN || SCEN.includes(s);

async function runStack(stack) {
  const out = { id: stack.id, label: stack.label, auth: stack.auth, fanout: {}, notes: [] };
  log(`== ${stack.id}: starting`);
  const sut = await stack.start();
  const pids = sut.procs.map((p) => p.pid);
  out.pinned = sut.procs.every((p) => p.pinned);
  out.pods = sut.procs.length;
  const proto = stack.proto;
  proto.prepare?.(0, SUBS + 1);
  proto.prepare?.(100_000, 100);
  proto.prepare?.(200_000, P.conns);
  proto.prepare?.(300_000, Math.max(...P.memLevels));
  try {
    const singleEp = [sut.endpoints[0]];
    if (!stack.fanoutOnly && want("memory")) {
      log(`${stack.id}: memory ${P.memLevels.join("/")}`);
      out.memory = await memory(proto, singleEp, { levels: P.memLevels, pid: pids[0], settleMs: P.memSettleMs });
    }
    if (!stack.fanoutOnly && want("connrate")) {
      log(`${stack.id}: connection rate x${P.conns}`);
      out.connrate = await connRate(proto, singleEp, { count: P.conns, pids: [pids[0]] });
    }
    if (want("fanout")) {
      const session = await fanoutSession(proto, sut.endpoints, { subs: SUBS });
      try {
        for (const kind of stack.kinds) {
          for (const rate of kind === "all" ? P.allRates : P.rates) {
            const reps = [];
            for (let r = 0; r < P.reps; r++) {
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
    if (P.overload && want("overload") && !stack.fanoutOnly) {
      const session = await fanoutSession(proto, sut.endpoints, { subs: SUBS, slow: 20 });
      try {
        const before = sut.counters ? await sut.counters() : undefined;
        const res = await session.run({ rate: 1000, durationMs: 5000, kind: "except", pids, drainMs: 8000, bodyPad: 1024 });
        if (before) {
          const after = await sut.counters();
          res.serverCountedSlowCuts = after.slowCuts - before.slowCuts;
          res.serverCountedDeliveries = after.delivered - before.delivered;
        }
        log(`${stack.id}: overload -> delivered ${res.delivered}/${res.expectedDeliveries}, slow subscribers disconnected ${res.subscribersDisconnected}, server-counted cuts ${res.serverCountedSlowCuts ?? "n/a"}`);
        out.overload = res;
      } finally {
        await session.close();
      }
    }
    if (!stack.fanoutOnly && want("echo")) {
      const reps = [];
      for (let r = 0; r < P.reps; r++) reps.push(await echo(proto, singleEp, { clients: 100, durationMs: P.echoMs, pids: [pids[0]] }));
      out.echo = summarizeReps(reps, "opsPerS");
      log(`${stack.id}: echo ${out.echo.opsPerS} ops/s`);
    }
  } finally {
    for (const p of sut.procs) {
      if (p.exited) out.notes.push(`${p.name} exited during the run: ${p.output().slice(-500)}`);
      await p.stop();
    }
  }
  return out;
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
  };
  log(`mode ${QUICK ? "quick" : "full"}; ${machine.cores} cores; ${machine.pinning}`);
  let redis;
  const results = { startedAt: new Date().toISOString(), mode: QUICK ? "quick" : "full", params: { ...P, subscribers: SUBS }, machine, stacks: [], skipped: [] };
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
    for (const s of stacks(redis?.url ?? "")) {
      if (ONLY && !ONLY.includes(s.id)) continue;
      const reason = s.skip ?? (s.needsRedis && !redis ? "redis-server not available" : performance.now() - T0 > BUDGET_MS ? `time budget (${BUDGET_MS / 1000} s) used up: run it with --only=${s.id}` : undefined);
      if (reason) {
        log(`-- ${s.id} skipped: ${reason}`);
        results.skipped.push({ id: s.id, label: s.label, reason });
        continue;
      }
      try {
        results.stacks.push(await runStack(s));
      } catch (err) {
        log(`!! ${s.id} failed: ${err.stack ?? err}`);
        results.skipped.push({ id: s.id, label: s.label, reason: `failed: ${String(err.message ?? err).slice(0, 300)}` });
      }
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
