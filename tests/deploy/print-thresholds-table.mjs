#!/usr/bin/env node
// Prints README.md's alert threshold table from helm/socketgate/thresholds.yaml, the one file that
// holds the numbers. Paste the output between <!-- thresholds:begin --> and <!-- thresholds:end -->
// in README.md; tests/deploy/thresholds.test.ts fails while the two differ.
//   node tests/deploy/print-thresholds-table.mjs
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** How a threshold reads for people: ratios in %, latencies in ms, rates per minute. */
export function formatThreshold(value, unit) {
  const round = (n) => String(Number(n.toFixed(6)));
  if (unit === "ratio") return `${round(value * 100)} %`;
  if (unit === "seconds") return `${round(value * 1000)} ms`;
  if (unit === "perMinute") return `${round(value)} per minute`;
  throw new Error(`unknown unit ${unit}`);
}

/** What each traffic guard counts: connection attempts, backend API requests, or client events. */
const GUARDED = { connectionFailures: "attempts", apiErrorRate: "API requests" };

/** The traffic guard as people read it. */
function minTraffic(a) {
  if (a.minRate === undefined) return "-";
  return `≥ ${a.minRate} ${GUARDED[a.key] ?? "events"}/s over ${a.window}`;
}

export function thresholdsTable() {
  const { alerts, operational } = parse(readFileSync(join(root, "helm/socketgate/thresholds.yaml"), "utf8"));
  const link = (a) => `[\`${a.alert}\`](docs/operations.md#${a.alert.toLowerCase()})`;
  const rows = alerts.map((a) =>
    `| ${a.title} | ${a.firesWhen.replace("{threshold}", formatThreshold(a.threshold, a.unit))} | ${minTraffic(a)} | ${a.for} | ${a.severity} | ${link(a)} | ${a.source} |`);
  const ops = operational.map((a) => `| ${a.title} | ${a.firesWhen} | - | ${a.for} | ${a.severity} | ${link(a)} | operations (3 a.m. rules) |`);
  return ["| alert | fires when | only with traffic | for | severity | rule and runbook | source |", "|---|---|---|---|---|---|---|", ...rows, ...ops].join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`<!-- thresholds:begin -->\n${thresholdsTable()}\n<!-- thresholds:end -->\n`);
}
