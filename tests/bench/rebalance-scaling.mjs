#!/usr/bin/env node
// Rebalancing after a scale-out (issue 15 closing note): for each step (2 -> 4 and 4 -> 8 pods by
// default), a real redis-server, `from` gateways (dist/main.js, cluster mode) behind HAProxy following
// /readyz, 100 real socket.io-clients per old pod with a room stream every 200 ms; then `to - from`
// more gateways. Reports how long until every pod holds the mean +- 25 %, the rebalance disconnects
// against the excess, the longest disconnection and lost messages, per balancer algorithm. Reuses the
// system test's scenario (TypeScript, loaded through Vite's module runner). Bounded: a hard limit ends
// the run; 8 pods x 100 clients stay far below the 20000 open files of this machine.
//   npm run build && node tests/bench/rebalance-scaling.mjs
//   node tests/bench/rebalance-scaling.mjs --steps=2:4,4:8 --balance=roundrobin,random --after-ms=3000 --clients-per-pod=200
// Writes tests/.tmp/rebalance-scaling.json and prints one line per run plus a table.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runnerImport } from "vite";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = new Map(process.argv.slice(2).map((a) => { const [k, v] = a.replace(/^--/, "").split("="); return [k, v ?? "1"]; }));
const STEPS = (args.get("steps") ?? "2:4,4:8").split(",").map((s) => s.split(":").map(Number));
const BALANCES = (args.get("balance") ?? "roundrobin,random").split(",");
const AFTER_MS = Number(args.get("after-ms") ?? 3000);
const PER_POD = Number(args.get("clients-per-pod") ?? 200);
const HARD_LIMIT_MS = Number(args.get("hard-limit-ms") ?? 20 * 60_000);

const hardLimit = setTimeout(() => {
  console.error(`hard limit of ${HARD_LIMIT_MS} ms reached: stopping`);
  process.exit(2);
}, HARD_LIMIT_MS);
hardLimit.unref();

const load = async (path) => (await runnerImport(join(ROOT, path), { configFile: false, logLevel: "error", root: ROOT })).module;
const { clusterModeBuilt } = await load("tests/support/cluster-fixture.ts");
const { scaleOut } = await load("tests/support/system/rebalance-scenario.ts");
if (!clusterModeBuilt()) {
  console.error("dist/ is missing or has no cluster mode: run `npm run build` first");
  process.exit(2);
}

const runs = [];
for (const [from, to] of STEPS) {
  for (const balance of BALANCES) {
    const started = Date.now();
    const r = await scaleOut({ from, to, clients: from * PER_POD, balance, afterMs: AFTER_MS, withinMs: 60_000, holdMs: 5000, runId: `bench-${from}to${to}-${balance}-${process.pid}` });
    const row = {
      step: `${from}->${to}`,
      balance,
      clients: r.report.devices,
      afterMs: AFTER_MS,
      excess: r.excess,
      convergedMs: r.convergedMs ?? null,
      rebalanceDisconnects: r.rebalanceDisconnects,
      disconnectsPerExcess: Math.round((r.rebalanceDisconnects / Math.max(1, r.excess)) * 100) / 100,
      balancedAtEnd: r.balancedAtEnd,
      countsAtEnd: r.after,
      longestDisconnectionMs: r.gaps.max,
      reconnectP50Ms: r.gaps.p50,
      lostAcknowledged: r.report.missing.length,
      stream: `${r.streamAcked}/${r.streamSent}`,
      loadAverage: os.loadavg()[0].toFixed(1),
      runMs: Date.now() - started,
    };
    runs.push({ ...row, timeline: r.timeline });
    console.log(JSON.stringify(row));
  }
}

const dir = join(ROOT, "tests", ".tmp");
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, "rebalance-scaling.json"), JSON.stringify({ at: new Date().toISOString(), cpus: os.cpus().length, runs }, null, 2));
console.log("\n| step | balance | clients | excess | converged after | rebalance disconnects | / excess | longest disconnection | lost |");
console.log("|---|---|---|---|---|---|---|---|---|");
for (const r of runs)
  console.log(`| ${r.step} | ${r.balance} | ${r.clients} | ${r.excess} | ${r.convergedMs === null ? "not within 60 s" : `${(r.convergedMs / 1000).toFixed(1)} s`} | ${r.rebalanceDisconnects} | ${r.disconnectsPerExcess} | ${r.longestDisconnectionMs} ms | ${r.lostAcknowledged} |`);
process.exit(0);
