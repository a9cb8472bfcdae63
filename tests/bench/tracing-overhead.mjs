#!/usr/bin/env node
// Tracing cost, measured side by side in one run: event throughput (echo with ack) against gateway
// processes with tracing off / on at 100 % / on at 1 % sampling (parentbased_traceidratio), 3 rounds
// interleaved, medians reported; then /metrics scrape time with 0 and with 1,000 connected sockets.
// Usage: npm run build && node tests/bench/tracing-overhead.mjs [--clients 50] [--events 400] [--rounds 3]
// Loopback only, bounded loops, every child process killed on exit.
import { spawn } from "node:child_process";
import { cpSync, rmSync } from "node:fs";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { SignJWT } from "jose";
import { io } from "socket.io-client";
import { freePort } from "./lib/proc.mjs";

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const CLIENTS = arg("clients", 50);
const EVENTS = arg("events", 400); // per client
const IN_FLIGHT = arg("in-flight", 8); // per client
const ROUNDS = arg("rounds", 3);
const SCRAPE_SOCKETS = arg("sockets", 1000);
const SCRAPES = arg("scrapes", 30);

const DIST = fileURLToPath(new URL("../../dist/", import.meta.url));
// A private copy of dist/ (others may rebuild it mid-run); under node_modules/.cache so imports still resolve.
const SNAPSHOT = fileURLToPath(new URL("../../node_modules/.cache/socketgate-tracing-bench/", import.meta.url));
const MAIN = `${SNAPSHOT}main.js`;
const SECRET = "bench-secret-0123456789-0123456789-abcdef";
const children = new Set();
const killAll = () => {
  for (const c of children) c.kill("SIGKILL");
};
process.on("exit", killAll);
process.on("SIGINT", () => process.exit(130));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/** A do-nothing OTLP/HTTP receiver: the exporter does its real work (serialise + POST), spans are counted. */
async function startReceiver() {
  let spans = 0;
  const server = http.createServer((req, res) => {
    let n = 0;
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) n += ss.spans?.length ?? 0;
      } catch {}
      spans += n;
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { port: server.address().port, spans: () => spans, close: () => new Promise((r) => server.close(r)) };
}

async function startGateway(env) {
  const [port, opsPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: "production",
      HOST: "127.0.0.1",
      PORT: String(port),
      OPS_PORT: String(opsPort),
      JWT_SECRET: SECRET,
      LOG_LEVEL: "warn",
      RATE_LIMIT_EVENTS_PER_S: "100000",
      RATE_LIMIT_BURST: "100000",
      MAX_CONNECTIONS: "5000",
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.add(child);
  let stderr = "";
  child.stderr.on("data", (c) => (stderr += c));
  const exited = new Promise((r) => child.once("exit", r));
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`gateway exited: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    opsUrl: `http://127.0.0.1:${opsPort}`,
    stop: async () => {
      child.kill("SIGKILL");
      await exited;
      children.delete(child);
    },
  };
}

const token = (sub) => new SignJWT({ rooms: ["*"] }).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt().setExpirationTime("1h").sign(new TextEncoder().encode(SECRET));

async function connectMany(url, n) {
  const sockets = [];
  // In batches: a 2-core box, and the handshake verifies a JWT each.
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async (_, j) => {
        const s = io(url, { auth: { token: await token(`u${i + j}`) }, transports: ["websocket"], reconnection: false, forceNew: true, timeout: 10_000 });
        await new Promise((resolve, reject) => {
          s.once("connect", resolve);
          s.once("connect_error", reject);
        });
        return s;
      }),
    );
    sockets.push(...batch);
  }
  return sockets;
}

/** CLIENTS sockets each send EVENTS presence:get with ack, IN_FLIGHT outstanding at a time. Returns events/s. */
async function throughput(url) {
  const sockets = await connectMany(url, CLIENTS);
  // Plain emitWithAck: socket.io-client's .timeout() costs a timer per emit and would make the client the bottleneck.
  const one = (s) => s.emitWithAck("presence:get", { room: "bench" });
  // Warm-up: JIT, connection buffers.
  await Promise.all(sockets.map(async (s) => {
    for (let i = 0; i < 20; i++) await one(s);
  }));
  const started = performance.now();
  let failed = 0;
  await Promise.all(
    sockets.map(async (s) => {
      let sent = 0;
      const lane = async () => {
        while (sent < EVENTS) {
          sent++;
          const r = await one(s);
          if (!r?.ok) failed++;
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    }),
  );
  const secs = (performance.now() - started) / 1000;
  for (const s of sockets) s.close();
  if (failed) throw new Error(`${failed} events answered not ok`);
  return (CLIENTS * EVENTS) / secs;
}

async function scrapeTimes(opsUrl) {
  const times = [];
  let bytes = 0;
  for (let i = 0; i < SCRAPES; i++) {
    const t = performance.now();
    const body = await (await fetch(`${opsUrl}/metrics`)).text();
    times.push(performance.now() - t);
    bytes = body.length;
  }
  return { median: median(times), p95: pct(times, 95), bytes };
}

async function main() {
  rmSync(SNAPSHOT, { recursive: true, force: true });
  cpSync(DIST, SNAPSHOT, { recursive: true });
  const rx = await startReceiver();
  const otel = (sampler, arg) => ({
    OTEL_TRACES_EXPORTER: "otlp",
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${rx.port}/v1/traces`,
    OTEL_TRACES_SAMPLER: sampler,
    OTEL_TRACES_SAMPLER_ARG: arg,
  });
  const modes = [
    { name: "tracing off", env: {} },
    { name: "tracing on, 100 %", env: otel("parentbased_traceidratio", "1") },
    { name: "tracing on, 1 %", env: otel("parentbased_traceidratio", "0.01") },
    { name: "tracing on, 0 %", env: otel("parentbased_traceidratio", "0") },
  ];
  const results = new Map(modes.map((m) => [m.name, []]));
  console.error(`throughput: ${CLIENTS} clients x ${EVENTS} presence:get with ack, ${IN_FLIGHT} in flight each, ${ROUNDS} rounds interleaved`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mode of modes) {
      const gw = await startGateway(mode.env);
      try {
        const rate = await throughput(gw.url);
        results.get(mode.name).push(rate);
        console.error(`  round ${round}  ${mode.name.padEnd(20)} ${Math.round(rate)} events/s`);
      } finally {
        await gw.stop();
      }
    }
  }
  const base = median(results.get("tracing off"));
  console.log("\n| mode | events/s (median of %d) | runs | vs off |", ROUNDS);
  console.log("|---|---:|---|---:|");
  for (const mode of modes) {
    const rs = results.get(mode.name);
    const med = median(rs);
    console.log(`| ${mode.name} | ${Math.round(med)} | ${rs.map((r) => Math.round(r)).join(", ")} | ${(((med - base) / base) * 100).toFixed(1)} % |`);
  }
  console.log(`\nspans received by the OTLP receiver: ${rx.spans()}`);

  const gw = await startGateway({ MAX_CONNECTIONS: String(SCRAPE_SOCKETS + 100) });
  try {
    const empty = await scrapeTimes(gw.opsUrl);
    const sockets = await connectMany(gw.url, SCRAPE_SOCKETS);
    const text = await (await fetch(`${gw.opsUrl}/metrics`)).text();
    const connections = /^socketgate_connections\{transport="websocket"\} (\S+)$/m.exec(text)?.[1];
    const full = await scrapeTimes(gw.opsUrl);
    console.log(`\n| /metrics scrape (${SCRAPES} scrapes) | median ms | p95 ms | body bytes |`);
    console.log("|---|---:|---:|---:|");
    console.log(`| 0 sockets | ${empty.median.toFixed(2)} | ${empty.p95.toFixed(2)} | ${empty.bytes} |`);
    console.log(`| ${connections} sockets connected | ${full.median.toFixed(2)} | ${full.p95.toFixed(2)} | ${full.bytes} |`);
    for (const s of sockets) s.close();
  } finally {
    await gw.stop();
  }
  await rx.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
