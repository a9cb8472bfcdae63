// Every PromQL expression shipped to operators (dashboard panels and variables, alert rules, the
// KEDA query, the prometheus-adapter rule) is evaluated by a real Prometheus scraping a real
// gateway (node dist/main.js, dev mode) under socket.io-client traffic. Dashboard queries must
// return data; alert expressions must be valid, reference only metrics the gateway exports, and
// (without their threshold comparison) return data.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { io, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGatewayProcess, TEST_API_KEY, type GatewayProcess } from "../support/gateway-process.js";
import { freePort } from "../support/ports.js";
import { findOne, renderChart, repoRoot, requireTool, scratch } from "./lib.js";

const NS = "socketgate"; // the chart renders its rules for release "socketgate" in this namespace
const POD = "socketgate-live-0";
const RATE_INTERVAL = "15s"; // Grafana's $__rate_interval for a 1 s scrape
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Series a Kubernetes cluster provides (kubelet's cAdvisor, kube-state-metrics), absent on this machine. */
const FROM_CLUSTER = /\b(container_|kube_)\w+\{/;
/** Series Prometheus itself writes for every target. */
const PROMETHEUS_OWN = new Set(["up"]);

let gw: GatewayProcess | undefined;
let prom: ChildProcess | undefined;
let promUrl = "";
let exported = new Set<string>();
let memoryLimit = 0;
const sockets: Socket[] = [];

async function query(expr: string): Promise<{ status: string; error?: string; data?: { resultType: string; result: unknown[] } }> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as any;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function connect(url: string, token: string, transports: string[]): Promise<Socket> {
  const s = io(url, { auth: { token }, transports, reconnection: false, forceNew: true, timeout: 5000 });
  sockets.push(s);
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
  });
}

/** Dashboard expressions with Grafana's variables replaced the way Grafana would for "All" pods. */
function dashboardExprs(): { name: string; expr: string; label?: string }[] {
  const dash = JSON.parse(readFileSync(join(repoRoot, "dashboards/socketgate.json"), "utf8"));
  const subst = (e: string) => e.replaceAll("$__rate_interval", RATE_INTERVAL).replaceAll("$namespace", NS).replaceAll("$pod", ".*");
  const out: { name: string; expr: string; label?: string }[] = [];
  for (const p of dash.panels) for (const t of p.targets ?? []) out.push({ name: `panel "${p.title}" ${t.refId}`, expr: subst(t.expr) });
  for (const v of dash.templating.list.filter((x: any) => x.type === "query")) {
    // label_values(selector, label): the selector must return series carrying the label.
    const m = /^label_values\((.*),\s*(\w+)\)$/.exec(v.query.query);
    if (!m) throw new Error(`variable ${v.name}: unsupported query ${v.query.query}`);
    out.push({ name: `variable ${v.name}`, expr: subst(m[1]!), label: m[2]! });
  }
  return out;
}

describe("PromQL of dashboards and rules against a live gateway", () => {
  beforeAll(async () => {
    requireTool("prometheus", "prometheus");
    // Dev mode: no JWT key, the gateway prints a token signed with a per-process secret.
    gw = await startGatewayProcess({ env: { NODE_ENV: "development", JWT_SECRET: undefined, API_KEYS: TEST_API_KEY, ALLOW_UWS_FALLBACK: undefined } });
    const devToken = (await gw.waitForLog((l) => typeof l.devToken === "string")).devToken as string;

    const dir = scratch("prometheus");
    rmSync(join(dir, "data"), { recursive: true, force: true });
    mkdirSync(join(dir, "data"));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    // Labels as the prometheus-operator would attach them through the chart's ServiceMonitor.
    writeFileSync(
      join(dir, "prometheus.yml"),
      [
        "global: { scrape_interval: 1s, evaluation_interval: 1s }",
        "scrape_configs:",
        "  - job_name: socketgate",
        "    static_configs:",
        `      - targets: ["127.0.0.1:${gw.opsPort}"]`,
        `        labels: { namespace: "${NS}", pod: "${POD}", service: "socketgate" }`,
      ].join("\n") + "\n",
    );
    prom = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let promErr = "";
    prom.stderr!.on("data", (c) => (promErr += c));
    await waitFor(`prometheus ready (${promErr})`, async () => (await fetch(`${promUrl}/-/ready`)).ok, 20_000);

    // Prometheus starts scraping a few seconds after it is ready (discovery batching): traffic
    // before the first scrape would be invisible to rate windows.
    await waitFor("first scrape", async () => ((await query('up{job="socketgate"} == 1')).data?.result.length ?? 0) > 0, 20_000);

    // Traffic: websocket and polling clients, joins and messages with acks, one refused handshake,
    // backend API calls (answered, refused for the key, unknown path).
    const clients = [
      await connect(gw.url, devToken, ["websocket"]),
      await connect(gw.url, devToken, ["websocket"]),
      await connect(gw.url, devToken, ["polling"]),
    ];
    await connect(gw.url, "not-a-jwt", ["websocket"]).catch(() => undefined);
    for (let round = 0; round < 8; round++) {
      for (const s of clients) {
        await s.timeout(5000).emitWithAck("room:join", { room: "r1" });
        await s.timeout(5000).emitWithAck("message:send", { room: "r1", body: `x${round}` });
      }
      for (const key of [TEST_API_KEY, TEST_API_KEY, "wrong-key"]) {
        const res = await fetch(`${gw.url}/v1/publish`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ room: "r1", event: "notice", data: round }),
        });
        await res.arrayBuffer();
      }
      await (await fetch(`${gw.url}/v1/presence/r1`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } })).arrayBuffer();
      await (await fetch(`${gw.url}/v1/nothing-here`)).arrayBuffer();
      await sleep(300);
    }
    // Enough samples after the traffic for 15 s rate windows.
    const targets = async () =>
      JSON.stringify(((await (await fetch(`${promUrl}/api/v1/targets`)).json()) as any).data.activeTargets.map((t: any) => [t.health, t.lastError]));
    await waitFor(
      "scraped traffic",
      async () => {
        const r = await query(`sum(increase(socketgate_events_total{namespace="${NS}"}[${RATE_INTERVAL}])) > 0`);
        return (r.data?.result.length ?? 0) > 0;
      },
      20_000,
    ).catch(async (e) => {
      throw new Error(`${e.message}; scrape targets: ${await targets()}`);
    });

    const metrics = await (await fetch(`${gw.opsUrl}/metrics`)).text();
    exported = new Set(
      metrics
        .split("\n")
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => l.split(/[{\s]/)[0]!),
    );
    memoryLimit = Number(/^socketgate_memory_limit_bytes\s+(\S+)/m.exec(metrics)?.[1] ?? 0);
  }, 90_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    prom?.kill("SIGTERM");
    await gw?.stop();
  });

  it("every dashboard query is valid and returns data", async () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThan(20);
    const failures: string[] = [];
    for (const { name, expr, label } of exprs) {
      const r = await query(expr);
      if (r.status !== "success") failures.push(`${name}: ${r.error} (${expr})`);
      // cAdvisor (container_*) and kube-state-metrics (kube_*) series come from the cluster, not the
      // gateway: valid here, data only on a real cluster.
      else if (!r.data!.result.length && !FROM_CLUSTER.test(expr)) failures.push(`${name}: no data (${expr})`);
      else if (label && !(r.data!.result as any[]).every((s) => label in s.metric)) failures.push(`${name}: series without label ${label}`);
    }
    expect(failures).toEqual([]);
  }, 30_000);

  it("every alert expression is valid, uses exported metrics and evaluates on live data", async () => {
    const rules = findOne(renderChart([{ alerts: { enabled: true } }], { namespace: NS }).docs, "PrometheusRule").spec.groups.flatMap((g: any) => g.rules);
    const failures: string[] = [];
    for (const r of rules) {
      const expr = (r.expr as string).trim();
      for (const [, metric] of expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)) {
        if (!exported.has(metric!) && !PROMETHEUS_OWN.has(metric!)) failures.push(`${r.alert}: ${metric} is not exported by the gateway`);
      }
      const full = await query(expr);
      if (full.status !== "success") failures.push(`${r.alert}: ${full.error}`);
      if (expr.startsWith("absent(")) {
        // The absence alert must be silent while a gateway is scraped.
        if (full.data?.result.length) failures.push(`${r.alert}: fires while the gateway is scraped`);
        continue;
      }
      // Without its threshold comparison and its traffic guard (the test's trickle is below it)
      // the expression measures the live value.
      const measure = expr.replace(/\s*(>|==)\s*[\d.e+-]+$/, "").replace(/\s*>=\s*[\d.e+-]+\)/g, ")");
      expect(measure, r.alert).not.toBe(expr);
      const live = await query(measure);
      const unlimited = r.alert === "SocketgateMemoryHigh" && memoryLimit === 0; // no cgroup limit on this machine
      if (live.status !== "success") failures.push(`${r.alert}: ${live.error}`);
      else if (!live.data!.result.length && !unlimited) failures.push(`${r.alert}: no data for ${measure}`);
    }
    expect(failures).toEqual([]);
  }, 30_000);

  it("the autoscaling queries (KEDA trigger, prometheus-adapter rule) return the live connection count", async () => {
    const so = findOne(
      renderChart([{ redis: { mode: "cluster", clusterNodes: ["r:6379"] }, autoscaling: { keda: { enabled: true } } }], { namespace: NS }).docs,
      "ScaledObject",
    );
    const keda = await query(so.spec.triggers[0].metadata.query);
    expect(keda.status).toBe("success");
    expect(Number((keda.data!.result[0] as any).value[1])).toBe(3);
    // The hottest-pod trigger: the busiest pod's connections (one pod here).
    const hottest = await query(so.spec.triggers.find((t: any) => t.name === "hottest-pod").metadata.query);
    expect(Number((hottest.data!.result[0] as any).value[1])).toBe(3);
    // docs/operations.md's adapter rule with the adapter's placeholders filled in for one pod.
    const doc = readFileSync(join(repoRoot, "docs/operations.md"), "utf8");
    const metricsQuery = /metricsQuery: '([^']+)'/.exec(doc)![1]!;
    const seriesQuery = /seriesQuery: '([^']+)'/.exec(doc)![1]!;
    const adapter = await query(
      metricsQuery
        .replace("<<.Series>>", "socketgate_connections")
        .replace("<<.LabelMatchers>>", `namespace="${NS}",pod=~"${POD}"`)
        .replace("<<.GroupBy>>", "pod"),
    );
    expect((adapter.data!.result as any[]).map((s) => [s.metric.pod, Number(s.value[1])])).toEqual([[POD, 3]]);
    expect((await query(seriesQuery)).data!.result.length).toBeGreaterThan(0);
  }, 30_000);
});
