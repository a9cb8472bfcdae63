// Summarises .cpuprofile files (from `node tests/bench/run.mjs --cpu-prof=<dir>`): self time by function, by module,
// and inclusive time. usage: node tests/bench/profile-summary.mjs <file-or-dir> [topN] [regex for the inclusive list]
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const target = process.argv[2];
const top = Number(process.argv[3] ?? 30);
const files = statSync(target).isDirectory()
  ? readdirSync(target).filter((f) => f.endsWith(".cpuprofile")).map((f) => join(target, f))
  : [target];

const self = new Map();
const incl = new Map();
const mod = new Map();
let total = 0;
let idle = 0;

const short = (url) =>
  url
    .replace(/^file:\/\//, "")
    .replace(/.*\/node_modules\//, "nm/")
    .replace(/.*\/dist\//, "dist/");
const moduleOf = (url) => {
  if (!url) return "(native/vm)";
  if (url.startsWith("node:")) return url;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  const d = /\/dist\/(.*)$/.exec(url);
  if (d) return "dist/" + d[1].split("/").slice(0, 1).join("/");
  return short(url);
};

for (const f of files) {
  const p = JSON.parse(readFileSync(f, "utf8"));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const dt = new Map();
  for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  for (const [id, us] of dt) {
    const n = byId.get(id);
    const cf = n.callFrame;
    const key = `${cf.functionName || "(anon)"} ${short(cf.url)}:${cf.lineNumber + 1}`;
    total += us;
    if (cf.functionName === "(idle)") idle += us;
    self.set(key, (self.get(key) ?? 0) + us);
    const mk = ["(idle)", "(garbage collector)", "(program)"].includes(cf.functionName) ? cf.functionName : moduleOf(cf.url);
    mod.set(mk, (mod.get(mk) ?? 0) + us);
    // inclusive: each distinct function key on the stack once
    const seen = new Set();
    let cur = id;
    while (cur !== undefined) {
      const c = byId.get(cur).callFrame;
      const k = `${c.functionName || "(anon)"} ${short(c.url)}:${c.lineNumber + 1}`;
      if (!seen.has(k)) {
        seen.add(k);
        incl.set(k, (incl.get(k) ?? 0) + us);
      }
      cur = parent.get(cur);
    }
  }
}

const busy = total - idle;
const pct = (us) => ((100 * us) / busy).toFixed(1).padStart(5) + "%";
console.log(`files ${files.length}, total ${(total / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s, busy ${(busy / 1e6).toFixed(2)} s (percentages of busy)`);
console.log(`\n== self time, top ${top}`);
for (const [k, us] of [...self].filter(([k]) => !k.startsWith("(idle)")).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(pct(us), k);
console.log(`\n== self time by module`);
for (const [k, us] of [...mod].filter(([k]) => k !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(pct(us), k);
const filter = process.argv[4] ? new RegExp(process.argv[4]) : undefined;
console.log(`\n== inclusive time, top ${top}${filter ? " matching " + filter : ""}`);
for (const [k, us] of [...incl].filter(([k]) => !k.startsWith("(idle)") && !k.startsWith("(root)") && (!filter || filter.test(k))).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(pct(us), k);
