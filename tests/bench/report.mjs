// Turns a results object into the side-by-side Markdown table, the goal check and an SVG chart.
import { median } from "./lib/stats.mjs";
const f = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? "—" : Number(x).toLocaleString("en-US", { maximumFractionDigits: d }));
const k = (x) => (x === null || x === undefined || Number.isNaN(x) ? "—" : x >= 1000 ? `${f(x / 1000, x >= 100_000 ? 0 : 1)}k` : f(x));

const kindLabel = { except: "`socket.to(room)` (sender excluded)", all: "`io.to(room)` (everyone)" };

/**
 * A fan-out result with its delivered/s as the median of the repetitions that measured anything: a repetition
 * that starts behind an earlier phase's backlog (a stack that cannot keep up and never gets quiet) receives
 * none of its own messages in its window and would otherwise report 0 delivered/s.
 */
function fan(stack, kind, rate) {
  const r = stack.fanout?.[`${kind}@${rate}`];
  if (!r || !r.deliveredPerSAll) return r;
  const measured = r.deliveredPerSAll.filter((x) => x > 0).sort((a, b) => a - b);
  if (measured.length === 0 || measured.length === r.deliveredPerSAll.length) return r;
  return { ...r, deliveredPerS: measured[(measured.length - 1) >> 1], behindBacklog: r.deliveredPerSAll.length - measured.length };
}

/** One row per stack and fan-out kind. */
export function rows(results) {
  const out = [];
  for (const s of results.stacks) {
    const kinds = [...new Set(Object.keys(s.fanout ?? {}).map((x) => x.split("@")[0]))];
    if (kinds.length === 0) kinds.push(undefined);
    kinds.forEach((kind, i) => out.push({ s, kind, first: i === 0 }));
  }
  return out;
}

export function renderMarkdown(results) {
  const m = results.machine;
  const rates = results.params.rates;
  const lo = rates.includes(100) ? 100 : rates[0];
  const hi = rates[rates.length - 1];
  const lines = [];
  lines.push(`### socketgate bench — ${results.mode} run, ${results.startedAt}, commit ${results.commit ?? "unknown"}`);
  lines.push("");
  lines.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}; ${m.pinning}; load average ${m.loadavgAtStart.join(" / ")} at start, ${m.loadavgAtEnd?.join(" / ")} at end${m.loadavgSamples?.length ? `, 1-min load every 10 s: median ${f(median(m.loadavgSamples), 1)}, max ${f(Math.max(...m.loadavgSamples), 1)}` : ""} (a 2-core machine shared with other engineers' test runs: a load above 2 means other processes competed for both cores, so absolute figures are low and noisy; ratios between interleaved stacks are the more reliable reading); ${results.durationS} s. ` +
    `${results.params.subscribers} subscribers in one room + 1 publisher; fan-out windows ${results.params.fanMs / 1000} s; ${results.params.reps} repetition(s) of every stack, interleaved (repetition 1 of every stack, then repetition 2, …), each on a fresh instance; medians shown (memory and connection rate included), every repetition listed below; loopback only.`);
  lines.push("");
  const memHead = `KiB RSS / idle conn at ${results.params.memLevels.at(-1) / 1000}k (slope ${results.params.memLevels[0] / 1000}k→${results.params.memLevels.at(-1) / 1000}k)`;
  lines.push(`| stack | fan-out kind | ${memHead} | fan-out ${lo} msg/s: delivered/s, p50 / p99 / max ms, loss | fan-out ${f(hi)} msg/s offered: delivered/s, p99 ms, loss | echo + ack, 100 clients: ops/s (p99 ms) | connections/s | load-gen CPU % (max) |`);
  lines.push("|---|---|---|---|---|---|---|---|");
  for (const { s, kind, first } of rows(results)) {
    const a = kind ? fan(s, kind, lo) : undefined;
    const b = kind ? fan(s, kind, hi) : undefined;
    const cpus = [...Object.values(s.fanout ?? {}), s.echo, s.connrate].filter(Boolean).map((r) => r.loadgenCpuPct ?? 0);
    const loss = (r) => (r ? (r.lost === 0 ? "no loss" : `**${f(r.lossPct, 2)} % lost**`) : "");
    lines.push(
      `| ${first ? s.label + (s.auth ? " (JWT auth)" : "") : "″"} | ${kind ? kindLabel[kind] : "—"} | ${first ? (s.memory ? `${f(s.memory.perConn.at(-1)?.kibPerConn, 1)} (${f(s.memory.kibPerConnSlope, 1)})` : "—") : "″"} | ` +
        `${a ? `${k(a.deliveredPerS)}, ${f(a.latencyMs.p50, 1)} / ${f(a.latencyMs.p99, 1)} / ${f(a.latencyMs.max, 0)}, ${loss(a)}` : "—"} | ` +
        `${b ? `${k(b.deliveredPerS)}${b.behindBacklog ? ` (${b.behindBacklog} of ${b.runs} reps started behind an unsettled backlog: excluded)` : ""}, ${f(b.latencyMs.p99, 0)}, ${loss(b)}` : "—"} | ` +
        `${first ? (s.echo ? `${k(s.echo.opsPerS)} (${f(s.echo.latencyMs.p99, 1)})` : "—") : "″"} | ${first ? (s.connrate ? k(s.connrate.connPerS) : "—") : "″"} | ${first ? Math.max(0, ...cpus) : "″"} |`,
    );
  }
  for (const s of results.skipped) lines.push(`| ${s.label} | skipped: ${s.reason.replace(/\|/g, "/").split("\n")[0]} | | | | | | |`);
  lines.push("");
  lines.push("Delivered/s counts frames received by the load generator; \"lost\" = sent × subscribers − received by the end of the drain window (dropped, or still queued: Node+ws never drops but queues without bound). Load-gen CPU near 100 % means the client, not the server, was the limit.");
  const repLines = [];
  for (const s of results.stacks) {
    const parts = [];
    for (const [key, r] of Object.entries(s.fanout ?? {})) if (r.deliveredPerSAll) parts.push(`fan-out ${key}: ${r.deliveredPerSAll.map(k).join(" / ")} delivered/s (lost ${r.lostAll.map((x) => f(x)).join(" / ")})`);
    if (s.echo?.opsPerSAll) parts.push(`echo ${s.echo.opsPerSAll.map(k).join(" / ")} ops/s`);
    if (s.connrate?.connPerSAll) parts.push(`connections ${s.connrate.connPerSAll.map(k).join(" / ")}/s`);
    if (s.memory?.kibPerConnAll) parts.push(`memory ${s.memory.kibPerConnAll.map((x) => f(x, 1)).join(" / ")} KiB/conn`);
    if (parts.length) repLines.push(`- ${s.id}: ${parts.join("; ")}`);
  }
  if (repLines.length) {
    lines.push("");
    lines.push("Every repetition (none dropped; zero-delivery repetitions count in the median):");
    lines.push("");
    lines.push(...repLines);
  }
  const memStacks = results.stacks.filter((s) => s.memory);
  if (memStacks.length) {
    lines.push("");
    lines.push("Idle memory (server RSS growth over the empty-server baseline, per held connection; the slope column above is the RSS growth between the first and the last level divided by the connections added):");
    lines.push("");
    lines.push(`| stack | ${results.params.memLevels.map((l) => `${f(l)} conns: KiB/conn`).join(" | ")} | baseline RSS MiB | failed connects |`);
    lines.push(`|---|${results.params.memLevels.map(() => "---|").join("")}---|---|`);
    for (const s of memStacks) {
      const m = s.memory;
      lines.push(`| ${s.label} | ${results.params.memLevels.map((l) => f(m.perConn.find((p) => p.connections >= l * 0.98)?.kibPerConn, 1)).join(" | ")} | ${f(m.baseRssKiB / 1024, 0)} | ${f(m.failed)} |`);
    }
  }
  const over = results.stacks.filter((s) => s.overload);
  if (over.length) {
    lines.push("");
    const ov = results.params.overload ?? {};
    lines.push(`Overload: ${f(ov.rate)} msg/s of ${ov.bodyBytes} B bodies for ${f(ov.durationMs / 1000)} s to ${f(ov.subs ?? 1000)} subscribers, ${ov.slow} of which stop reading while the publisher sends (and ${f((ov.holdMs ?? 0) / 1000)} s longer), then read again. ` +
      "Every offered delivery is accounted for: delivered + missing at subscribers the server closed + missing at open subscribers = offered. " +
      "Holes are messages missing before the last one a subscriber received: a client resuming from its last seq never notices them (silent drops).");
    lines.push("");
    lines.push("| stack | offered | delivered | closed subscribers (client view) | missing at closed subscribers | missing at open subscribers | holes (subscribers with holes) | cuts counted by the server | server RSS growth MiB |");
    lines.push("|---|---|---|---|---|---|---|---|---|");
    for (const s of over) {
      const o = s.overload;
      const a = o.accounting ?? {};
      lines.push(`| ${s.label} | ${f(a.offered)} | ${f(a.delivered)} | ${f(a.closedSubscribers)} | ${f(a.missingAtClosedSubscribers)} | ${f(a.missingAtOpenSubscribers)} | ${f(a.holes)} (${f(a.subscribersWithHoles)}) | ${o.serverCountedSlowCuts ?? "not counted"} | ${(o.serverRssGrowthKiB ?? []).map((x) => f(x / 1024, 0)).join(" + ")} |`);
    }
  }
  if (results.goals?.length) {
    lines.push("");
    lines.push("Goals (ratios from this run):");
    lines.push("");
    lines.push("| goal | measured | verdict |");
    lines.push("|---|---|---|");
    for (const g of results.goals) lines.push(`| ${g.goal} | ${g.measured} | ${g.verdict} |`);
  }
  lines.push("");
  return lines.join("\n");
}

const byId = (results, id) => results.stacks.find((s) => s.id === id);

export function goals(results) {
  const out = [];
  const hi = results.params.rates.at(-1);
  // A figure measured with the load generator's core saturated says how fast the client was, not the
  // server: such a goal is "inconclusive", never "met" or "missed".
  const SATURATED_PCT = 95;
  const saturation = (...runs) => {
    const busy = runs.filter((r) => r && (r.loadgenCpuPct ?? 0) >= SATURATED_PCT).map((r) => r.loadgenCpuPct);
    return busy.length ? `inconclusive: load generator saturated (${Math.max(...busy)} % of its core)` : undefined;
  };
  const add = (goal, value, target, fmt, higher = true, saturated = undefined) => {
    if (value === undefined || value === null || !Number.isFinite(value)) return out.push({ goal, measured: "not measured", verdict: "—" });
    const ok = higher ? value >= target : value <= target;
    out.push({ goal, measured: fmt(value), verdict: saturated ?? (ok ? "met" : `missed (${higher ? f((100 * value) / target, 0) + " % of target" : f(value - target, 1) + " over"})`) });
  };
  // The goal is stated for cluster mode: cross-pod (2 pods) when it ran, else 1 pod, else embedded.
  const gw = byId(results, "socketgate-cluster-2") ?? byId(results, "socketgate-cluster-1") ?? byId(results, "socketgate");
  const gwFan = gw && fan(gw, "except", hi)?.deliveredPerS;
  const gwName = gw?.id ?? "socketgate";
  // The ceiling is the better of the two raw uWS variants (ws.publish inside the callback, or deferred).
  const fanOf = (id) => { const s = byId(results, id); return s ? fan(s, "except", hi)?.deliveredPerS : undefined; };
  const raws = ["raw-uws", "raw-uws-deferred"].map(fanOf).filter((x) => x > 0);
  const raw = raws.length ? Math.max(...raws) : undefined;
  const runOf = (id) => { const s = byId(results, id); return s ? fan(s, "except", hi) : undefined; };
  const gwRun = gw && fan(gw, "except", hi);
  const bestRaw = ["raw-uws", "raw-uws-deferred"].map(runOf).filter((r) => r?.deliveredPerS > 0).sort((a, b) => b.deliveredPerS - a.deliveredPerS)[0];
  add(`fan-out ${hi} msg/s, sender excluded: ${gwName} ≥ 65 % of raw uWS (best variant)`, gwFan && raw ? gwFan / raw : undefined, 0.65, (v) => `${f(100 * v, 0)} %`, true, saturation(gwRun, bestRaw));
  const red = fanOf("sio-uws-redis");
  add(`… ≥ 4× Socket.IO + classic redis-adapter (socket.to)`, gwFan && red ? gwFan / red : undefined, 4, (v) => `${f(v, 1)}×`, true, saturation(gwRun, runOf("sio-uws-redis")));
  const ws = fanOf("sio-ws");
  add(`… ≥ 7× Socket.IO on ws (socket.to)`, gwFan && ws ? gwFan / ws : undefined, 7, (v) => `${f(v, 1)}×`, true, saturation(gwRun, runOf("sio-ws")));
  const sok = fanOf("soketi");
  add(`… ≥ 7× Soketi (client events)`, gwFan && sok ? gwFan / sok : undefined, 7, (v) => `${f(v, 1)}×`, true, saturation(gwRun, runOf("soketi")));
  for (const id of ["socketgate", "socketgate-cluster-1", "socketgate-cluster-2"]) {
    const r = byId(results, id)?.fanout?.["except@100"];
    if (r) add(`p99 ≤ 30 ms at 100 msg/s to 1,000 subscribers, sender excluded (${id})`, r.latencyMs.p99, 30, (v) => `${f(v, 1)} ms`, false, saturation(r));
  }
  for (const s of results.stacks.filter((x) => x.id.startsWith("socketgate"))) {
    // Silent = missing at a subscriber that was never closed (after the drain) or a hole before its last message;
    // what a closed subscriber misses is visible to it (disconnect, then history resync) and counted by the server.
    const runs = [...Object.values(s.fanout ?? {}), ...(s.overload ? [s.overload] : [])].filter((r) => r.accounting);
    if (runs.length === 0) continue;
    const silent = runs.reduce((a, r) => a + r.accounting.missingAtOpenSubscribers + r.accounting.holes, 0);
    const closed = runs.reduce((a, r) => a + r.accounting.closedSubscribers, 0);
    const cut = runs.reduce((a, r) => a + (r.serverCountedSlowCuts ?? 0), 0);
    const verdict = silent > 0 ? "missed: deliveries missing without a counted cause (or still queued after the drain)" : closed > cut ? `missed: ${closed - cut} closes not counted as slow-consumer cuts` : "met";
    out.push({ goal: `never a silent drop (${s.id}: fan-out${s.overload ? " + overload" : ""})`, measured: `${f(silent)} missing at open subscribers or in holes; ${f(closed)} subscribers closed, ${f(cut)} slow-consumer cuts counted`, verdict });
  }
  const mem = byId(results, "socketgate")?.memory;
  const top = mem?.perConn.at(-1);
  add(`idle memory ≤ 7 KB RSS per authenticated connection at ${f(top?.connections)} (RSS growth over the empty server)`, top?.kibPerConn, 7, (v) => `${f(v, 1)} KiB (slope ${mem.slopeRange}: ${f(mem.kibPerConnSlope, 1)} KiB)`, false);
  const e1 = byId(results, "socketgate")?.echo?.opsPerS;
  const e0 = byId(results, "sio-uws")?.echo?.opsPerS;
  add("echo with ack through the full pipeline ≥ 75 % of bare Socket.IO on uWS", e1 && e0 ? e1 / e0 : undefined, 0.75, (v) => `${f(100 * v, 0)} %`, true, saturation(byId(results, "socketgate")?.echo, byId(results, "sio-uws")?.echo));
  const c1 = byId(results, "socketgate")?.connrate?.connPerS;
  const c0 = byId(results, "sio-ws")?.connrate?.connPerS;
  add("connection rate with JWT ≥ 1.5× Socket.IO on ws without auth", c1 && c0 ? c1 / c0 : undefined, 1.5, (v) => `${f(v, 2)}×`, true, saturation(byId(results, "socketgate")?.connrate, byId(results, "sio-ws")?.connrate));
  return out;
}

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/`/g, "");

/** Two horizontal bar panels: delivered/s at the highest offered rate, and p99 at 100 msg/s (log scale). */
export function renderSvg(results) {
  const rates = results.params.rates;
  const hi = rates.at(-1);
  const lo = rates.includes(100) ? 100 : rates[0];
  const items = rows(results).filter((r) => r.kind).map(({ s, kind }) => ({ name: `${s.label.replace(/\s*\(.*\)$/, "")} — ${kind === "except" ? "socket.to" : "io.to"}`, thr: fan(s, kind, hi)?.deliveredPerS ?? 0, offered: fan(s, kind, hi)?.offeredDeliveriesPerS ?? 0, p99: fan(s, kind, lo)?.latencyMs?.p99 ?? null, p50: fan(s, kind, lo)?.latencyMs?.p50 ?? null }));
  const rowH = 22, top = 60, labelW = 420, barW = 330, gap = 40;
  const h = top + items.length * rowH + 50;
  const w = labelW + barW * 2 + gap + 40;
  const maxThr = Math.max(1, ...items.map((i) => Math.max(i.thr, i.offered)));
  const maxLat = Math.max(10, ...items.map((i) => i.p99 ?? 0));
  const lx = (v) => (v <= 0.1 ? 0 : (Math.log10(v / 0.1) / Math.log10(maxLat / 0.1)) * barW);
  const o = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`);
  o.push(`<rect width="100%" height="100%" fill="white"/>`);
  o.push(`<text x="10" y="20" font-size="14" font-weight="bold">socketgate bench (${results.mode}, ${esc(results.startedAt.slice(0, 16))}) — ${results.params.subscribers} subscribers, one room</text>`);
  o.push(`<text x="${labelW}" y="45" font-weight="bold">delivered msg/s at ${f(hi)} msg/s offered (line: offered)</text>`);
  o.push(`<text x="${labelW + barW + gap}" y="45" font-weight="bold">latency at ${lo} msg/s, ms (log): p50 light, p99 dark</text>`);
  items.forEach((it, i) => {
    const y = top + i * rowH;
    o.push(`<text x="${labelW - 8}" y="${y + 14}" text-anchor="end">${esc(it.name)}</text>`);
    const tw = (it.thr / maxThr) * barW;
    o.push(`<rect x="${labelW}" y="${y + 3}" width="${tw.toFixed(1)}" height="${rowH - 6}" fill="#3b7dd8"/>`);
    o.push(`<line x1="${(labelW + (it.offered / maxThr) * barW).toFixed(1)}" x2="${(labelW + (it.offered / maxThr) * barW).toFixed(1)}" y1="${y + 1}" y2="${y + rowH - 1}" stroke="#222" stroke-dasharray="2,2"/>`);
    o.push(`<text x="${labelW + tw + 4}" y="${y + 14}">${k(it.thr)}</text>`);
    const x0 = labelW + barW + gap;
    if (it.p99 !== null) {
      o.push(`<rect x="${x0}" y="${y + 3}" width="${lx(it.p99).toFixed(1)}" height="${rowH - 6}" fill="#d8713b"/>`);
      o.push(`<rect x="${x0}" y="${y + 3}" width="${lx(it.p50 ?? 0).toFixed(1)}" height="${rowH - 6}" fill="#f2b38f"/>`);
      o.push(`<text x="${x0 + lx(it.p99) + 4}" y="${y + 14}">${f(it.p50, 1)} / ${f(it.p99, 1)}</text>`);
    }
  });
  const m = results.machine;
  o.push(`<text x="10" y="${h - 15}" fill="#555">${esc(`${m.cpu}, ${m.cores} cores, Node ${m.node}; ${m.pinning}; load avg ${m.loadavgAtStart.join("/")}`)}</text>`);
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}
