#!/usr/bin/env node
// Re-renders results/latest.{md,svg} (and the goal table in latest.json) from latest.json with the current
// report.mjs, without running anything: for report changes after a run.  node tests/bench/rerender.mjs [file.json]
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { goals, renderMarkdown, renderSvg } from "./report.mjs";

const dir = join(dirname(fileURLToPath(import.meta.url)), "results");
const file = process.argv[2] ?? join(dir, "latest.json");
const results = JSON.parse(readFileSync(file, "utf8"));
results.goals = goals(results);
writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
writeFileSync(file.replace(/\.json$/, ".md"), renderMarkdown(results));
writeFileSync(file.replace(/\.json$/, ".svg"), renderSvg(results));
console.log(renderMarkdown(results));
