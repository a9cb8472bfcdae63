#!/usr/bin/env node
// How a drain scales with the number of clients (issue 6 closing note): for each crowd size, a real
// redis-server, three gateways (dist/main.js, cluster mode) behind HAProxy following /readyz, N real
// socket.io-clients with a fixed total message rate; SIGTERM one gateway and report the reconnect gap
// distribution (per client: disconnect -> connect, and -> room re-joined), the drain's phases, the
// spread of the closes, lost / duplicate messages. Reuses the e2e fixture and load model (TypeScript,
// loaded through Vite's module runner). Bounded: a hard limit ends the run.
//   npm run build && node tests/bench/drain-scaling.mjs                 300 and 3000 clients
//   node tests/bench/drain-scaling.mjs --clients=300,1000 --window-ms=3000 --delay-ms=500
// Writes tests/.tmp/drain-scaling.json and prints one line per run plus a table.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runnerImport } from "vite";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = new Map(process.argv.slice(2).map((a) => { const [k, v] = a.replace(/^--/, "").split("="); return [k, v ?? "1"]; }));
const SIZES = (args.get("clients") ?? "300,3000").split(",").map(Number);
const DELAY = Number(args.get("delay-ms") ?? 500);
const WINDOW = Number(args.get("window-ms") ?? 3000);
const GRACE = Number(args.get("presence-grace-ms") ?? 1500);
const RECONNECT_MS = Number(args.get("reconnect-delay-ms") ?? 200);
const RECONNECT_MAX_MS = Number(args.get("reconnect-delay-max-ms") ?? 1000);
/** Total messages per second across the crowd, whatever its size: the drain is what scales here. */
const ROOM_MSGS_PER_S = Number(args.get("room-msgs-per-s") ?? 150);
const DIRECT_MSGS_PER_S = Number(args.get("direct-msgs-per-s") ?? 75);
const HARD_LIMIT_MS = Number(args.get("hard-limit-ms") ?? 8 * 60_000);

const hardLimit = setTimeout(() => {
  console.error(`drain-scaling: hard limit of ${HARD_LIMIT_MS} ms reached, giving up`);
  process.exit(2);
}, HARD_LIMIT_MS);
hardLimit.unref();

const load = async (path) => (await runnerImport(join(ROOT, path), { configFile: false, logLevel: "error", root: ROOT })).module;
const { startCluster, clusterModeBuilt } = await load("tests/support/cluster-fixture.ts");
const { Load, gapSummary } = await load("tests/support/system/load.ts");
const { summarizeDrain } = await load("tests/support/system/drain-summary.ts");
if (!clusterModeBuilt()) {
  console.error("drain-scaling: dist/cluster/redis is missing: run `npm run build` with cluster mode in src/");
  process.exit(1);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function run(clients) {
  const env = {
    DRAIN_DELAY_MS: String(DELAY),
    DRAIN_WINDOW_MS: String(WINDOW),
    PRESENCE_GRACE_MS: String(GRACE),
    MAX_CONNECTIONS: "50000",
    RATE_LIMIT_EVENTS_PER_S: "200",
    RATE_LIMIT_BURST: "400",
  };
  const cluster = await startCluster({ env, haproxy: { maxconn: 9000 } });
  const rooms = Math.round(clients / 12);
  const secondDevices = Math.round(clients / 12);
  const users = clients - rooms - secondDevices;
  const senders = users + secondDevices;
  const crowd = new Load({
    url: cluster.url,
    users,
    roomSize: Math.ceil(users / rooms),
    secondDevices,
    runId: `scale${clients}`,
    roomSendEveryMs: Math.round((senders / ROOM_MSGS_PER_S) * 1000),
    directSendEveryMs: Math.round((senders / DIRECT_MSGS_PER_S) * 1000),
    reconnectionDelayMs: RECONNECT_MS,
    reconnectionDelayMaxMs: RECONNECT_MAX_MS,
    connectConcurrency: 100,
  });
  try {
    const t0 = Date.now();
    await crowd.connect(240_000);
    const connectMs = Date.now() - t0;
    crowd.startTraffic();
    await sleep(3000);
    const rec = await cluster.drainGateway(cluster.gateways[0], { probeOps: true });
    await sleep(2000);
    await crowd.stopTraffic();
    await crowd.settle(30_000);
    const s = summarizeDrain(crowd, rec, WINDOW);
    const r = crowd.report();
    const probesFailedBeforeClose = rec.probes.filter((p) => p.at < (rec.settledAt ?? rec.exitedAt) && p.path !== "/readyz" && p.status !== 200).length;
    return {
      clients: r.devices,
      onDrainedPod: s.socketsAtListenerClose,
      connectMs,
      exitCode: rec.exitCode,
      drain: s.timings,
      gap: s.gap,
      reconnectedAll: s.notReconnected.length === 0,
      reasons: s.reasons,
      warnedFirst: s.warnedFirst,
      closesPerS: Math.round((s.drainedDevices / WINDOW) * 1000),
      disconnectHistogram: s.disconnectHistogram,
      reconnectHistogram: s.reconnectHistogram,
      plannedHistogram: s.plannedHistogram,
      messages: {
        acked: r.sends.acked,
        failed: r.sends.failed,
        retried: r.sends.retried,
        expectedReceipts: r.expectedReceipts,
        lost: r.missing.length,
        duplicatesBeforeDedupe: r.duplicatesBeforeDedupe,
      },
      presence: { offlineEvents: r.presence.offlineEvents, violations: r.presence.violations.length },
      connectErrors: r.connectErrors.length,
      connectErrorKinds: Object.fromEntries(
        Object.entries(r.connectErrors.reduce((acc, e) => ((acc[`${e.code}: ${e.message}`] = (acc[`${e.code}: ${e.message}`] ?? 0) + 1), acc), {})),
      ),
      presenceViolationSamples: r.presence.violations.slice(0, 3),
      loadAverage: os.loadavg().map((x) => Math.round(x * 10) / 10),
      opsProbesFailedBeforeClose: probesFailedBeforeClose,
      allGaps: gapSummary(crowd.gapsBetween(rec.signalledAt, rec.exitedAt)),
    };
  } finally {
    crowd.close();
    await cluster.stop();
  }
}

const results = [];
for (const n of SIZES) {
  const r = await run(n);
  results.push(r);
  console.log(JSON.stringify(r));
}
const out = { settings: { delayMs: DELAY, windowMs: WINDOW, presenceGraceMs: GRACE, reconnectDelayMs: RECONNECT_MS, reconnectDelayMaxMs: RECONNECT_MAX_MS, roomMsgsPerS: ROOM_MSGS_PER_S, directMsgsPerS: DIRECT_MSGS_PER_S }, results };
mkdirSync(join(ROOT, "tests/.tmp"), { recursive: true });
writeFileSync(join(ROOT, "tests/.tmp/drain-scaling.json"), JSON.stringify(out, null, 2));
const row = (cells) => `| ${cells.join(" | ")} |`;
console.log(row(["clients", "on drained pod", "gap p50", "gap p99", "gap max", "ready p99", "listener close", "closes done", "exit", "lost", "dups", "connect errors", "offline"]));
console.log(row(Array(13).fill("---")));
for (const r of results)
  console.log(
    row([
      r.clients,
      r.onDrainedPod,
      `${r.gap.p50} ms`,
      `${r.gap.p99} ms`,
      `${r.gap.max} ms`,
      `${r.gap.readyP99} ms`,
      `${r.drain.signalToListenerCloseMs} ms`,
      `+${r.drain.listenerCloseToTransportsClosedMs} ms`,
      `${r.drain.signalToExitMs} ms (code ${r.exitCode})`,
      r.messages.lost,
      `${r.messages.duplicatesBeforeDedupe.room}+${r.messages.duplicatesBeforeDedupe.direct}`,
      r.connectErrors,
      r.presence.offlineEvents,
    ]),
  );
process.exit(0);
