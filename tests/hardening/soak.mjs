#!/usr/bin/env node
// Bounded soak: one real gateway (dist/) in a child process, churned by many clients that connect
// (WebSocket, polling, polling->WebSocket upgrade), join, send, type, read presence and leave or drop.
// The child reports heap and RSS (after a forced GC), file descriptors, active timers/handles and
// listener counts on shared emitters over IPC. Result: growth slopes after warm-up, and what was
// left once every client is gone, against the baseline taken before the first client.
//
//   npm run build && node tests/hardening/soak.mjs --minutes 10 [--clients 50] [--json out.json]
//
// tests/hardening/soak.test.ts runs the same code for one minute.
import { fork } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(import.meta.url);
const DIST = new URL("../../dist/", import.meta.url);
export const SOAK_SECRET = "soak-secret-0123456789-0123456789-abcdef";
export const SOAK_API_KEY = "soak-api-key-0123456789abcdef";

// ---------------------------------------------------------------------------------------------
// Child mode: the gateway under test, answering "stats" over IPC.
// ---------------------------------------------------------------------------------------------
async function harness() {
  const { loadConfig } = await import(new URL("config.js", DIST).href);
  const { startGateway } = await import(new URL("gateway.js", DIST).href);
  const { createLogger } = await import(new URL("ops/logger.js", DIST).href);
  const { installProcessGuards } = await import(new URL("lifecycle/process-guards.js", DIST).href);
  const config = loadConfig(process.env, []);
  const logger = createLogger(config.logLevel);
  const gw = await startGateway(config, { logger });
  installProcessGuards(logger, gw.metrics);
  const sum = (emitter) => emitter.eventNames().reduce((n, e) => n + emitter.listenerCount(e), 0);
  const stats = () => {
    globalThis.gc?.();
    globalThis.gc?.();
    const mem = process.memoryUsage();
    const resources = {};
    for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
    const ns = gw.io.of("/");
    return {
      t: Date.now(),
      heapUsed: mem.heapUsed,
      rss: mem.rss,
      external: mem.external,
      fds: readdirSync("/proc/self/fd").length,
      timers: resources.Timeout ?? 0,
      resources,
      listeners: { process: sum(process), io: sum(gw.io), engine: sum(gw.io.engine), namespace: sum(ns), adapter: sum(ns.adapter) },
      engineClients: gw.io.engine.clientsCount,
      sockets: ns.sockets.size,
      rooms: ns.adapter.rooms.size,
      sids: ns.adapter.sids.size,
    };
  };
  process.on("message", (m) => {
    if (m === "stats") process.send({ stats: stats() });
    if (m === "stop") gw.close().then(() => process.exit(0));
  });
  process.send({ ready: { port: gw.port, opsPort: gw.opsPort } });
}

// ---------------------------------------------------------------------------------------------
// Parent mode: the churn and the measurements.
// ---------------------------------------------------------------------------------------------
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pick = (a) => a[Math.floor(Math.random() * a.length)];

/** Least-squares slope of y over t, in y-units per minute. */
export function slopePerMinute(points) {
  const n = points.length;
  if (n < 2) return 0;
  const mt = points.reduce((s, p) => s + p.t, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60_000;
}

function startChild(env) {
  const child = fork(HERE, ["--harness"], {
    execArgv: ["--expose-gc"],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: "test",
      HOST: "127.0.0.1",
      PORT: "0",
      OPS_PORT: "0",
      JWT_SECRET: SOAK_SECRET,
      API_KEYS: SOAK_API_KEY,
      LOG_LEVEL: "warn",
      PRESENCE_GRACE_MS: "300",
      // Short enough that the dedupe table reaches its steady size during warm-up.
      IDEMPOTENCY_TTL_MS: "10000",
      HISTORY_MAX_LENGTH: "200",
      INBOX_MAX_LENGTH: "50",
      MAX_CONNECTIONS: "5000",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  const errorLines = [];
  let buf = "";
  child.stdout.setEncoding("utf8").on("data", (c) => {
    buf += c;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (/"level":"(error|fatal)"/.test(line)) errorLines.push(line.slice(0, 500));
    }
  });
  const stderr = [];
  child.stderr.setEncoding("utf8").on("data", (c) => stderr.push(c));
  const pending = [];
  child.on("message", (m) => {
    if (m.stats) pending.shift()?.(m.stats);
  });
  const ready = new Promise((resolve, reject) => {
    child.on("message", (m) => m.ready && resolve(m.ready));
    child.once("exit", (code) => reject(new Error(`gateway exited (${code}) before ready: ${stderr.join("")}`)));
  });
  return {
    child,
    ready,
    errorLines,
    stderr,
    stats: () =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("stats timed out")), 15_000);
        pending.push((s) => (clearTimeout(t), resolve(s)));
        child.send("stats");
      }),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        child.once("exit", (code, sig) => (clearTimeout(t), resolve(code ?? sig)));
        child.send("stop");
      }),
  };
}

/**
 * Runs the soak and returns its report. Options: durationMs, clients (concurrent churn loops),
 * warmupFraction, sampleEveryMs, log (function), env (extra gateway settings).
 */
export async function runSoak(opts = {}) {
  const durationMs = opts.durationMs ?? 60_000;
  const clients = opts.clients ?? 30;
  const warmupMs = Math.round(durationMs * (opts.warmupFraction ?? 0.25));
  const sampleEveryMs = opts.sampleEveryMs ?? Math.max(1000, Math.round(durationMs / 60));
  const log = opts.log ?? (() => {});
  const { io } = await import("socket.io-client");
  const { SignJWT } = await import("jose");
  const key = new TextEncoder().encode(SOAK_SECRET);
  const sign = (sub) => new SignJWT({ rooms: ["*"] }).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setExpirationTime("2h").sign(key);

  const gw = startChild(opts.env ?? {});
  const { port } = await gw.ready;
  const url = `http://127.0.0.1:${port}`;
  await sleep(500);
  const baseline = await gw.stats();
  log(`baseline: heap ${(baseline.heapUsed / 1e6).toFixed(1)} MB, rss ${(baseline.rss / 1e6).toFixed(1)} MB, fds ${baseline.fds}, timers ${baseline.timers}`);

  const ROOMS = Array.from({ length: 12 }, (_, i) => `soak:${i}`);
  const users = Array.from({ length: clients }, (_, i) => `soak-user-${i}`);
  const tokens = await Promise.all(users.map(sign));
  const counts = { connections: 0, joins: 0, messages: 0, direct: 0, published: 0, received: 0, typing: 0, abrupt: 0, errors: 0 };
  const errorSamples = [];
  const noteError = (what) => {
    counts.errors++;
    if (errorSamples.length < 10) errorSamples.push(what);
  };
  let running = true;
  // A quiet point at the end of the warm-up: churn pauses until no client is left, the heap is read
  // after a forced GC, then churn resumes. Heap at the final quiet point minus this one, divided by the
  // connections made in between, is what each connection leaves behind (a slope over a busy heap
  // cannot see a kilobyte per connection).
  let paused = false;
  let inConnection = 0;
  let warm;
  const started = Date.now();

  const ask = (s, ev, payload) => s.timeout(10_000).emitWithAck(ev, payload);
  async function churn(i) {
    while (running) {
      while (paused && running) await sleep(50);
      if (!running) break;
      inConnection++;
      const r = Math.random();
      const transports = r < 0.25 ? ["polling"] : r < 0.45 ? ["polling", "websocket"] : ["websocket"];
      const s = io(url, { auth: { token: tokens[i], deviceId: `d${Math.floor(Math.random() * 3)}` }, transports, reconnection: false, forceNew: true, timeout: 10_000 });
      s.on("message", () => counts.received++);
      try {
        await new Promise((resolve, reject) => {
          s.once("connect", resolve);
          s.once("connect_error", reject);
        });
        counts.connections++;
        const mine = [...new Set(Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => pick(ROOMS)))];
        for (const room of mine) {
          const a = await ask(s, "room:join", { room });
          if (a.ok) counts.joins++;
          else noteError(`join ${JSON.stringify(a.error)}`);
        }
        const sends = 1 + Math.floor(Math.random() * 5);
        for (let k = 0; k < sends && running; k++) {
          const room = pick(mine);
          const a = await ask(s, "message:send", { room, body: { k, pad: "x".repeat(Math.floor(Math.random() * 500)) }, ...(Math.random() < 0.5 ? { clientMsgId: `${i}-${Date.now()}-${k}` } : {}) });
          if (a.ok) counts.messages++;
          else noteError(`send ${JSON.stringify(a.error)}`);
          if (Math.random() < 0.3) {
            s.emit("typing", { room, isTyping: Math.random() < 0.5 });
            counts.typing++;
          }
          await sleep(Math.random() * 100);
        }
        if (Math.random() < 0.3) {
          const a = await ask(s, "message:send", { to: pick(users), body: "dm" });
          if (a.ok) counts.direct++;
          else noteError(`dm ${JSON.stringify(a.error)}`);
        }
        if (Math.random() < 0.3) {
          const a = await ask(s, "message:unacked", {});
          if (a.ok && a.messages.length) await ask(s, "message:ack", { ids: a.messages.slice(0, 1000).map((m) => m.id) });
        }
        const p = await ask(s, "presence:get", { room: pick(mine) });
        if (!p.ok) noteError(`presence ${JSON.stringify(p.error)}`);
        if (Math.random() < 0.5) await ask(s, "room:leave", { room: mine[0] });
      } catch (err) {
        if (running) noteError(String(err?.message ?? err));
      } finally {
        // End of life: polite disconnect, transport close, or an abrupt TCP cut.
        const end = Math.random();
        const ws = s.io.engine?.transport?.ws;
        if (end < 0.15 && ws?._socket) {
          counts.abrupt++;
          ws._socket.destroy();
        } else if (end < 0.3) s.io.engine?.close();
        s.close();
        inConnection--;
      }
      await sleep(Math.random() * 150);
    }
  }

  async function publisher() {
    while (running) {
      try {
        const res = await fetch(`${url}/v1/publish`, {
          method: "POST",
          headers: { authorization: `Bearer ${SOAK_API_KEY}`, "content-type": "application/json" },
          body: JSON.stringify({ room: pick(ROOMS), event: Math.random() < 0.5 ? "message" : "notice", data: { at: Date.now() } }),
        });
        if (res.ok) counts.published++;
        else noteError(`publish ${res.status}`);
        await res.arrayBuffer();
      } catch (err) {
        if (running) noteError(`publish ${err.message}`);
      }
      await sleep(100);
    }
  }

  const quietPoint = async () => {
    for (let i = 0; i < 100 && inConnection > 0; i++) await sleep(50);
    let s;
    for (let i = 0; i < 40; i++) {
      await sleep(250);
      s = await gw.stats();
      if (s.engineClients === 0 && s.sockets === 0) break;
    }
    return s;
  };
  const samples = [];
  const sampler = (async () => {
    while (running) {
      await sleep(sampleEveryMs);
      if (!running) break;
      if (!warm && Date.now() - started >= warmupMs) {
        paused = true;
        const s = await quietPoint();
        warm = { heapUsed: s.heapUsed, connections: counts.connections, clientsLeft: s.engineClients };
        log(`quiet point after warm-up: heap ${(s.heapUsed / 1e6).toFixed(2)} MB, ${counts.connections} connections so far, ${s.engineClients} clients left`);
        paused = false;
        continue;
      }
      const s = await gw.stats();
      samples.push(s);
      log(
        `t=${((s.t - started) / 1000).toFixed(0)}s heap ${(s.heapUsed / 1e6).toFixed(1)} MB rss ${(s.rss / 1e6).toFixed(1)} MB fds ${s.fds} sockets ${s.sockets} timers ${s.timers} conns ${counts.connections} msgs ${counts.messages} errors ${counts.errors}`,
      );
    }
  })();

  const loops = [...Array.from({ length: clients }, (_, i) => churn(i)), publisher()];
  await sleep(durationMs);
  running = false;
  await Promise.all(loops);
  await sampler;

  // Every client is gone: let presence grace timers, closes and the dedupe table's TTL (IDEMPOTENCY_TTL_MS)
  // run out, so the final quiet point holds no state of recent messages, then compare with the baseline.
  await sleep(Number(opts.env?.IDEMPOTENCY_TTL_MS ?? 10_000) + 1000);
  let final;
  for (let i = 0; i < 20; i++) {
    await sleep(500);
    final = await gw.stats();
    if (final.engineClients === 0 && final.sockets === 0 && final.fds <= baseline.fds && final.timers <= baseline.timers) break;
  }
  const exitCode = gw.child.exitCode;
  await gw.stop();

  const after = samples.filter((s) => s.t - started >= warmupMs);
  const mb = (f) => after.map((s) => ({ t: s.t, y: s[f] / 1e6 }));
  const report = {
    durationMs,
    clients,
    warmupMs,
    samples: samples.length,
    counts,
    errorSamples,
    slopes: { heapMBPerMin: slopePerMinute(mb("heapUsed")), rssMBPerMin: slopePerMinute(mb("rss")), externalMBPerMin: slopePerMinute(mb("external")) },
    perConnection: warm
      ? { connections: counts.connections - warm.connections, heapBytes: final.heapUsed - warm.heapUsed, heapBytesPerConnection: Math.round((final.heapUsed - warm.heapUsed) / Math.max(1, counts.connections - warm.connections)), clientsLeftAtWarmPoint: warm.clientsLeft }
      : undefined,
    heapMB: { baseline: baseline.heapUsed / 1e6, afterWarmupMin: Math.min(...after.map((s) => s.heapUsed)) / 1e6, max: Math.max(...samples.map((s) => s.heapUsed)) / 1e6, final: final.heapUsed / 1e6 },
    rssMB: { baseline: baseline.rss / 1e6, max: Math.max(...samples.map((s) => s.rss)) / 1e6, final: final.rss / 1e6 },
    baseline: { fds: baseline.fds, timers: baseline.timers, listeners: baseline.listeners, resources: baseline.resources },
    final: { fds: final.fds, timers: final.timers, listeners: final.listeners, resources: final.resources, engineClients: final.engineClients, sockets: final.sockets, rooms: final.rooms, sids: final.sids },
    peak: { fds: Math.max(...samples.map((s) => s.fds)), timers: Math.max(...samples.map((s) => s.timers)), sockets: Math.max(...samples.map((s) => s.sockets)) },
    gatewayErrorLogs: gw.errorLines,
    gatewayExitedEarly: exitCode !== null,
  };
  return report;
}

// ---------------------------------------------------------------------------------------------
if (process.argv.includes("--harness")) {
  harness().catch((err) => {
    process.stderr.write(`harness failed: ${err?.stack ?? err}\n`);
    process.exit(1);
  });
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name, def) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : def;
  };
  const minutes = Number(arg("minutes", "10"));
  const report = await runSoak({ durationMs: minutes * 60_000, clients: Number(arg("clients", "50")), log: (l) => console.log(l) });
  console.log(JSON.stringify(report, null, 2));
  const out = arg("json");
  if (out) writeFileSync(out, JSON.stringify(report, null, 2));
  const leaks = [];
  if (report.final.fds > report.baseline.fds) leaks.push(`fds ${report.baseline.fds} -> ${report.final.fds}`);
  if (report.final.timers > report.baseline.timers) leaks.push(`timers ${report.baseline.timers} -> ${report.final.timers}`);
  for (const [k, v] of Object.entries(report.final.listeners)) if (v > report.baseline.listeners[k]) leaks.push(`${k} listeners ${report.baseline.listeners[k]} -> ${v}`);
  if (report.final.engineClients || report.final.sockets || report.final.rooms || report.final.sids) leaks.push("sockets or rooms left behind");
  console.log(`heap slope ${report.slopes.heapMBPerMin.toFixed(3)} MB/min, rss slope ${report.slopes.rssMBPerMin.toFixed(3)} MB/min after ${report.warmupMs / 1000}s warm-up; ${leaks.length ? "LEAKS: " + leaks.join("; ") : "no leaks"}`);
  process.exit(leaks.length || report.gatewayErrorLogs.length || report.gatewayExitedEarly ? 1 : 0);
}
