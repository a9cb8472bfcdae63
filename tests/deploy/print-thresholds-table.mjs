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

export function thresholdsTable() {
  const { alerts } = parse(readFileSync(join(root, "helm/socketgate/thresholds.yaml"), "utf8"));
  const rows = alerts.map((a) =>
    `| ${a.title} | ${a.firesWhen.replace("{threshold}", formatThreshold(a.threshold, a.unit))} | ${a.for} | ${a.severity} | [\`${a.alert}\`](docs/operations.md#${a.alert.toLowerCase()}) | ${a.source} |`);
  return ["| alert | fires when | for | severity | rule and runbook | source |", "|---|---|---|---|---|---|", ...rows].join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`<!-- thresholds:begin -->\n${thresholdsTable()}\n<!-- thresholds:end -->\n`);
}
