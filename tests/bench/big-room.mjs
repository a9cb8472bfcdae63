#!/usr/bin/env node
// Big-room benchmark (issue 14; not part of npm test): N clients join ONE room, on one embedded pod and on
// 3 pods + Redis, with today's behaviour (PRESENCE_FULL_MAX_USERS above N: full presence for everyone) and
// the big-room mode (default 200) side by side in the same run. Prints, per case: join storm time (first
// room:join sent -> last answer), presence frames per member (presence + presence:occupancy, counted until
// the room is quiet), largest join answer, gateway RSS, Redis commands per join (INFO commandstats), and
// every refused join or cut socket. Medians over --reps; the load average is printed with each case.
//
//   npm run build && node tests/bench/big-room.mjs [--sizes 1000,3000,10000] [--reps 1] [--before-max 3000]
//     [--topologies "1 pod,3 pods + Redis"] [--modes before,after]
//
// --before-max: the largest N for today's behaviour (its cost is O(N^2): 10,000 means ~50 M frames, which
// takes longer than this machine has; above it the "before" column says "skipped").
// One load generator holds all N sockets (10,000 fit a 20,000 descriptor limit; each pod raises its own limit).
// The table lands between the <!-- bench:begin --> / <!-- bench:end --> markers of results/big-room.md.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { signJwt, SioClient } from "./loadgen/sio.mjs";
import { cpuSeconds, freePort, httpGet, rssKiB, startProcess } from "./lib/proc.mjs";
import { median, round } from "./lib/stats.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const MAIN = join(ROOT, "dist", "main.js");
const SECRET = "big-room-bench-secret-0123456789abcdef";
const ROOM = "big:room";
const QUIET_MS = 3000; // > OCCUPANCY_INTERVAL_MS: the last coalesced count is counted too
const STORM_TIMEOUT_MS = 240_000;
const CONNECT_CONCURRENCY = 200;

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const sizes = (args.sizes ?? "1000,3000,10000").split(",").map(Number);
const reps = Number(args.reps ?? 1);
const beforeMax = Number(args["before-max"] ?? 3000);
const topologies = (args.topologies ?? "1 pod,3 pods + Redis").split(",");
const modes = (args.modes ?? "before,after").split(",");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const load = () => os.loadavg().map((x) => x.toFixed(1)).join(" ");

async function startRedis() {
  const port = await freePort();
  const proc = await startProcess({
    name: "redis",
    cmd: "redis-server",
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxclients", "1000"],
    ready: async (out) => out.includes("Ready to accept connections"),
  });
  return { port, url: `redis://127.0.0.1:${port}`, proc };
}

async function startPod(env) {
  const port = await freePort();
  const opsPort = await freePort();
  const proc = await startProcess({
    name: `gateway:${port}`,
    cmd: process.execPath,
    args: [MAIN],
    env: { NODE_ENV: "production", PORT: String(port), OPS_PORT: String(opsPort), HOST: "127.0.0.1", JWT_SECRET: SECRET, LOG_LEVEL: "warn", MAX_CONNECTIONS: "20000", ...env },
    ready: async () => (await httpGet(`http://127.0.0.1:${opsPort}/readyz`)).status === 200,
    timeoutMs: 30_000,
  });
  return { port, opsPort, proc };
}

/** One member: a raw Socket.IO client that counts presence frames and remembers its join answer size. */
function member() {
  const m = { client: null, presenceFrames: 0, lastFrameAt: 0, closed: false, closeCode: 0 };
  m.client = new SioClient({
    onEvent: (buf, s) => {
      // '["presence"' or '["presence:occupancy"': both are presence-related frames.
      if (buf[s + 2] === 0x70 && buf.toString("latin1", s + 2, s + 10) === "presence") {
        m.presenceFrames++;
        m.lastFrameAt = Date.now();
      }
    },
    onClose: (code) => {
      m.closed = true;
      m.closeCode = code;
    },
  });
  return m;
}

async function connectAll(pods, n, runId) {
  const members = Array.from({ length: n }, member);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const pod = pods[i % pods.length];
      members[i].client.auth = { token: signJwt(SECRET, `${runId}-u${i}`), deviceId: "bench" };
      await members[i].client.connect("127.0.0.1", pod.port, undefined, 30_000);
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
  return members;
}

/** Sum of `calls` over INFO commandstats, without the INFO / CONFIG calls of this bench. */
async function redisCalls(redis) {
  const info = await redis.info("commandstats");
  let total = 0;
  const perCommand = {};
  for (const line of info.split("\n")) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (!m || m[1] === "info" || m[1].startsWith("config")) continue;
    total += Number(m[2]);
    perCommand[m[1]] = Number(m[2]);
  }
  return { total, perCommand };
}

async function runCase({ n, topology, mode, rep }) {
  const runId = `${topology.replace(/[^a-z0-9]+/g, "_")}-${mode}-${n}-${rep}-${Date.now().toString(36)}`;
  const env = { PRESENCE_FULL_MAX_USERS: mode === "before" ? String(n + 1) : "200", OCCUPANCY_INTERVAL_MS: "2000", RATE_LIMIT_EVENTS_PER_S: "1000", RATE_LIMIT_BURST: "1000" };
  const redis = topology === "3 pods + Redis" ? await startRedis() : undefined;
  const pods = [];
  const control = redis ? new Redis(redis.url, { lazyConnect: false }) : undefined;
  try {
    for (let i = 0; i < (redis ? 3 : 1); i++) pods.push(await startPod({ ...env, ...(redis ? { REDIS_URL: redis.url } : {}) }));
    const members = await connectAll(pods, n, runId);
    await sleep(500);
    if (control) {
      await control.config("RESETSTAT");
      await control.call("CONFIG", "SET", "slowlog-log-slower-than", "2000");
      await control.call("SLOWLOG", "RESET");
    }
    const cpu0 = { pods: pods.map((p) => cpuSeconds(p.proc.pid)), redis: redis ? cpuSeconds(redis.proc.pid) : 0, self: process.cpuUsage() };

    // The storm: every member asks to join at once; the clock stops at the last answer.
    let answered = 0;
    let refused = 0;
    const codes = {};
    let largest = 0;
    const started = performance.now();
    let stormMs = NaN;
    const done = new Promise((resolve) => {
      const timer = setTimeout(resolve, STORM_TIMEOUT_MS);
      for (const m of members) {
        m.client.emitRaw(JSON.stringify(["room:join", { room: ROOM }]), (buf, s, e) => {
          answered++;
          if (!buf) refused++;
          else {
            largest = Math.max(largest, e - s);
            // '[{"ok":false,...' — decode only refusals.
            if (buf[s + 7] === 0x66) {
              refused++;
              const code = JSON.parse(buf.toString("utf8", s, e))[0]?.error?.code ?? "?";
              codes[code] = (codes[code] ?? 0) + 1;
            }
          }
          if (answered === n) {
            stormMs = performance.now() - started;
            clearTimeout(timer);
            resolve();
          }
        });
      }
    });
    await done;
    const completed = answered === n;
    // Presence frames still in flight after the last answer are part of the storm's cost: wait for quiet.
    const quietDeadline = Date.now() + STORM_TIMEOUT_MS;
    for (;;) {
      const last = members.reduce((x, m) => Math.max(x, m.lastFrameAt), 0);
      if (Date.now() - Math.max(last, Date.now() - QUIET_MS - 1) >= QUIET_MS && Date.now() - last >= QUIET_MS) break;
      if (Date.now() > quietDeadline) break;
      await sleep(250);
    }
    const frames = members.reduce((x, m) => x + m.presenceFrames, 0);
    const self = process.cpuUsage(cpu0.self);
    const cpuS = {
      pods: round(pods.reduce((x, p, i) => x + cpuSeconds(p.proc.pid) - cpu0.pods[i], 0), 1),
      redis: redis ? round(cpuSeconds(redis.proc.pid) - cpu0.redis, 1) : null,
      loadgen: round((self.user + self.system) / 1e6, 1),
    };
    const rss = pods.map((p) => rssKiB(p.proc.pid) / 1024);
    const calls = control ? await redisCalls(control) : undefined;
    const slow = control ? (await control.call("SLOWLOG", "GET", "3")).map((e) => `${e[2]}us ${String(e[3].slice(0, 2).join(" "))}`) : undefined;
    const cut = members.filter((m) => m.closed).length;
    if (refused > 0 || cut > 0) {
      const logFile = join(os.tmpdir(), `big-room-${runId}.log`);
      writeFileSync(logFile, pods.map((p) => p.proc.output()).join("\n"));
      console.error(`[${runId}] refused ${refused}, cut ${cut}: pod logs in ${logFile}`);
    }
    for (const m of members) m.client.destroy();
    return {
      n,
      topology,
      mode,
      rep,
      completed,
      answered,
      stormS: completed ? round(stormMs / 1000, 2) : null,
      framesPerMember: round(frames / n, 1),
      largestJoinKB: round(largest / 1024, 1),
      rssMB: round(rss.reduce((a, b) => a + b, 0), 0),
      rssMaxPodMB: round(Math.max(...rss), 0),
      redisCmdsPerJoin: calls ? round(calls.total / n, 1) : null,
      redisTop: calls ? Object.entries(calls.perCommand).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([c, k]) => `${c}:${k}`).join(" ") : null,
      cpuS,
      // Load-independent cost: CPU the gateway pods and Redis spent per join, storm and its presence traffic included.
      cpuMsPerJoin: round(((cpuS.pods + (cpuS.redis ?? 0)) * 1000) / n, 2),
      slowestRedis: slow,
      refused,
      codes,
      cut,
      load: load(),
    };
  } finally {
    control?.disconnect();
    await Promise.all(pods.map((p) => p.proc.stop()));
    await redis?.proc.stop();
  }
}

const results = [];
console.log(`big-room bench: sizes ${sizes.join(", ")}, reps ${reps}, before up to N=${beforeMax}; ${os.cpus().length} cores; load ${load()}`);
for (const n of sizes) {
  for (const topology of topologies) {
    for (const mode of modes) {
      if (mode === "before" && n > beforeMax) {
        results.push({ n, topology, mode, skipped: true });
        continue;
      }
      for (let rep = 0; rep < reps; rep++) {
        const r = await runCase({ n, topology, mode, rep });
        results.push(r);
        console.log(JSON.stringify(r));
      }
    }
  }
}

/** Median of one field over the reps of a case. */
const med = (n, topology, mode, key) => {
  const rs = results.filter((r) => r.n === n && r.topology === topology && r.mode === mode);
  if (rs.length === 0) return "not run";
  if (rs.some((r) => r.skipped)) return "skipped";
  if (rs.some((r) => !r.completed)) return `timeout (${Math.min(...rs.map((r) => r.answered))}/${n} answered)`;
  return median(rs.map((r) => r[key]));
};
const rows = [];
rows.push(`Run ${new Date().toISOString()}: \`node tests/bench/big-room.mjs ${process.argv.slice(2).join(" ")}\`, ${os.cpus().length} cores.`);
rows.push("");
rows.push("| N | topology | join storm s (before → after) | presence frames / member | largest join answer KB | RSS MB (sum of pods) | Redis cmds / join | CPU ms / join, pods + Redis | refused / cut (after) | load avg 1/5/15 (after) |");
rows.push("|---|---|---|---|---|---|---|---|---|---|");
for (const n of sizes)
  for (const topology of topologies) {
    const pair = (key) => `${med(n, topology, "before", key)} → ${med(n, topology, "after", key)}`;
    const after = results.filter((r) => r.n === n && r.topology === topology && r.mode === "after");
    const bad = `${after.reduce((x, r) => x + r.refused, 0)} / ${after.reduce((x, r) => x + r.cut, 0)}`;
    const loads = after.map((r) => r.load).join("; ") || "-";
    rows.push(
      `| ${n} | ${topology} | ${pair("stormS")} | ${pair("framesPerMember")} | ${pair("largestJoinKB")} | ${pair("rssMB")} | ${topology === "1 pod" ? "-" : pair("redisCmdsPerJoin")} | ${pair("cpuMsPerJoin")} | ${bad} | ${loads} |`,
    );
  }
for (const topology of topologies) {
  const a = med(1000, topology, "after", "stormS");
  const b = med(3000, topology, "after", "stormS");
  if (typeof a === "number" && typeof b === "number") rows.push(`\n${topology}: N=3,000 storm / N=1,000 storm = ${round(b / a, 2)} (goal <= 4)`);
}
console.log("\n" + rows.join("\n"));
console.log(`\nload average at the end: ${load()}`);
const out = join(ROOT, "tests", "bench", "results");
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "big-room.json"), JSON.stringify({ at: new Date().toISOString(), sizes, reps, results }, null, 2));
// The table goes between the markers of big-room.md when it has them, so the notes around it survive a re-run.
const mdFile = join(out, "big-room.md");
const table = rows.join("\n") + "\n";
const BEGIN = "<!-- bench:begin -->";
const END = "<!-- bench:end -->";
const md = existsSync(mdFile) ? readFileSync(mdFile, "utf8") : "";
const [b, e] = [md.indexOf(BEGIN), md.indexOf(END)];
writeFileSync(mdFile, b >= 0 && e > b ? `${md.slice(0, b + BEGIN.length)}\n${table}${md.slice(e)}` : table);
process.exit(0);
