// The rendered alert rules pass `promtool check rules`, and `promtool test rules` proves each alert
// fires just above its threshold in thresholds.yaml and stays silent at or just below it. The
// synthetic series are generated from thresholds.yaml, so a changed number is tested as it is.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { findOne, loadOperationalAlerts, loadThresholds, renderChart, requireTool, runOk, scratch, type ThresholdEntry } from "./lib.js";

const NS = "socketgate";
const JOB = "socketgate";
const POD = "socketgate-7d9f-abcde";
const SCRAPE = 15; // seconds between synthetic samples, like the ServiceMonitor's interval
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type Series = { series: string; values: string };
type Scenario = { series: Series[]; labels: Record<string, string>; value: number };

const sel = (extra: Record<string, string> = {}) =>
  "{" +
  Object.entries({ job: JOB, namespace: NS, ...extra })
    .map(([k, v]) => `${k}="${v}"`)
    .join(",") +
  "}";
const gauge = (name: string, labels: Record<string, string>, v: number): Series => ({ series: name + sel(labels), values: `${v}+0x200` });
/** A counter growing by perMinute each minute, sampled every SCRAPE seconds. */
const counter = (name: string, labels: Record<string, string>, perMinute: number): Series => ({
  series: name + sel(labels),
  values: `0+${(perMinute * SCRAPE) / 60}x200`,
});

function histogramScenario(q: number, t: number, above: boolean): Scenario {
  // N observations a minute; the bucket ending at t gets just under (above) or just over (below)
  // q*N of them, the next bucket the rest, so the q-quantile lands just above or just below t.
  const N = 10000;
  const i = BUCKETS.indexOf(t);
  if (i < 1) throw new Error(`latency threshold ${t} must be a bucket boundary above the first`);
  const k = q * N + (above ? -1 : 1);
  const series = [...BUCKETS.map(String), "+Inf"].map((le, j) =>
    counter("socketgate_event_duration_seconds_bucket", { event: "message:send", le }, j < i ? 0 : j === i ? k : N),
  );
  const [prev, next] = [BUCKETS[i - 1]!, BUCKETS[i + 1]!];
  const value = above ? t + ((q * N - k) / (N - k)) * (next - t) : prev + ((q * N) / k) * (t - prev);
  // The traffic guard counts events through the histogram's _count.
  series.push(counter("socketgate_event_duration_seconds_count", { event: "message:send" }, N));
  return { series, labels: { namespace: NS, job: JOB }, value };
}

/** Inputs that put each alert's expression just above (or at/just below) its threshold. */
const scenarios: Record<string, (t: number, above: boolean) => Scenario> = {
  connections: (t, above) => {
    const v = t * 1000 + (above ? 1 : -1);
    return {
      series: [
        gauge("socketgate_connections", { pod: POD, transport: "websocket" }, v - 10),
        gauge("socketgate_connections", { pod: POD, transport: "polling" }, 10),
        gauge("socketgate_connections_max", { pod: POD }, 1000),
      ],
      labels: { namespace: NS, pod: POD },
      value: v / 1000,
    };
  },
  errorRate: (t, above) => {
    const e = t * 1000 + (above ? 1 : -1);
    return {
      series: [
        counter("socketgate_events_total", { event: "message:send", outcome: "error" }, e),
        counter("socketgate_events_total", { event: "message:send", outcome: "ok" }, 1000 - e - 20),
        counter("socketgate_events_total", { event: "room:join", outcome: "rejected" }, 10),
        counter("socketgate_events_total", { event: "message:send", outcome: "rate_limited" }, 10),
      ],
      labels: { namespace: NS, job: JOB },
      value: e / 1000,
    };
  },
  memory: (t, above) => {
    const rss = t * 1e9 + (above ? 1e6 : -1e6);
    return {
      series: [gauge("process_resident_memory_bytes", { pod: POD }, rss), gauge("socketgate_memory_limit_bytes", { pod: POD }, 1e9)],
      labels: { namespace: NS, pod: POD },
      value: rss / 1e9,
    };
  },
  latencyP95Seconds: (t, above) => histogramScenario(0.95, t, above),
  latencyP99Seconds: (t, above) => histogramScenario(0.99, t, above),
  handlerPanicsPerMinute: (t, above) => {
    const perMin = above ? t + 1 : Math.max(t - 1, 0);
    return {
      series: [counter("socketgate_handler_errors_total", { event: "message:send" }, perMin)],
      labels: { namespace: NS, job: JOB, event: "message:send" },
      value: perMin,
    };
  },
  connectionFailures: (t, above) => {
    const f = t * 1000 + (above ? 1 : -1);
    // Service-side failures only; client-fault refusals alongside must not count.
    return {
      series: [
        counter("socketgate_connection_failures_total", { reason: "capacity" }, f),
        counter("socketgate_connection_failures_total", { reason: "auth_expired" }, 100),
        counter("socketgate_connection_attempts_total", {}, 1000),
      ],
      labels: { namespace: NS, job: JOB },
      value: f / 1000,
    };
  },
  apiErrorRate: (t, above) => {
    const e = t * 1000 + (above ? 1 : -1);
    // 1000 answered requests a minute to the API's routes; refusals count in the denominator only,
    // unknown paths and aborted calls in neither (their volume must not move the ratio).
    return {
      series: [
        counter("socketgate_api_requests_total", { route: "/v1/publish", status: "503" }, e),
        counter("socketgate_api_requests_total", { route: "/v1/publish", status: "200" }, 1000 - e - 50),
        counter("socketgate_api_requests_total", { route: "/v1/publish", status: "401" }, 50),
        counter("socketgate_api_requests_total", { route: "other", status: "404" }, 5000),
        counter("socketgate_api_requests_total", { route: "/v1/publish", status: "aborted" }, 5000),
      ],
      labels: { namespace: NS, job: JOB },
      value: e / 1000,
    };
  },
};

// Go's %.4g, which Prometheus' humanize functions use.
const g4 = (v: number) => String(Number(v.toPrecision(4)));
/** Prometheus' humanize: SI prefixes above 1000 and below 1 (0.1 -> "100m"). */
function humanize(v: number): string {
  if (v === 0 || !Number.isFinite(v)) return g4(v);
  const up = ["", "k", "M", "G", "T", "P", "E", "Z", "Y"];
  const down = ["", "m", "µ", "n", "p", "f", "a", "z", "y"];
  let i = 0;
  if (Math.abs(v) >= 1) {
    while (Math.abs(v) >= 1000 && i < up.length - 1) {
      v /= 1000;
      i++;
    }
    return `${g4(v)}${up[i]}`;
  }
  while (Math.abs(v) < 1 && i < down.length - 1) {
    v *= 1000;
    i++;
  }
  return `${g4(v)}${down[i]}`;
}
const humanizers: Record<string, (v: number) => string> = {
  humanize,
  humanizePercentage: (v) => `${g4(v * 100)}%`,
  humanizeDuration: (v) => (v >= 1 ? `${g4(v)}s` : `${g4(v * 1000)}ms`),
};
/** Expands the annotation templates the chart uses ($labels.x, $value | humanize*) in advance. */
function expand(text: string, labels: Record<string, string>, value: number): string {
  return text.replace(/\{\{\s*(\$labels\.(\w+)|\$value(?:\s*\|\s*(\w+))?)\s*\}\}/g, (_m, _all, label, fn) => {
    if (label) return labels[label] ?? "";
    const h = fn ? humanizers[fn] : g4;
    if (!h) throw new Error(`annotation uses ${fn}: teach tests/deploy/rules.test.ts how it formats`);
    return h(value);
  });
}

const secondsOf = (d: string) => Number(d.slice(0, -1)) * { s: 1, m: 60, h: 3600 }[d.slice(-1) as "s" | "m" | "h"]!;

describe("alert rules", () => {
  const thresholds = loadThresholds();
  const rule = findOne(renderChart([{ alerts: { enabled: true } }], { namespace: NS }).docs, "PrometheusRule");
  const dir = scratch("promtool");
  const rulesFile = join(dir, "rules.yaml");

  beforeAll(() => {
    requireTool("promtool", "prometheus");
    writeFileSync(rulesFile, stringify({ groups: rule.spec.groups }));
  });

  it("pass promtool check rules", () => {
    const out = runOk("promtool", ["check", "rules", rulesFile]);
    expect(out).toContain(`SUCCESS: ${thresholds.length + loadOperationalAlerts().length} rules found`);
  });

  it.each(thresholds.map((t) => [t.alert, t] as [string, ThresholdEntry]))("%s fires just above its threshold and stays silent below it", (_name, t) => {
    const r = rule.spec.groups[0].rules.find((x: any) => x.alert === t.alert);
    // Rate windows filled, `for` elapsed.
    const evalSeconds = secondsOf(t.for) + Math.max(6 * 60, (t.window ? secondsOf(t.window) : 0) + 60);
    const tests = [true, false].map((above) => {
      const s = scenarios[t.key]!(t.threshold, above);
      const labels = { ...s.labels, alertname: t.alert, severity: t.severity };
      return {
        name: `${t.alert} ${above ? "above" : "below"} ${t.threshold}`,
        interval: `${SCRAPE}s`,
        input_series: s.series,
        alert_rule_test: [
          {
            eval_time: `${evalSeconds}s`,
            alertname: t.alert,
            exp_alerts: above
              ? [
                  {
                    exp_labels: { ...s.labels, severity: t.severity },
                    exp_annotations: Object.fromEntries(
                      Object.entries(r.annotations as Record<string, string>).map(([k, v]) => [k, expand(v, labels, s.value)]),
                    ),
                  },
                ]
              : [],
          },
        ],
      };
    });
    // One scenario must not fire before its `for` has elapsed either.
    if (secondsOf(t.for) > 0) {
      const early = structuredClone(tests[0]!);
      early.name = `${t.alert} pending before for`;
      early.alert_rule_test[0]!.eval_time = `${secondsOf(t.for) / 2}s`;
      early.alert_rule_test[0]!.exp_alerts = [];
      tests.push(early);
    }
    const testFile = join(dir, `${t.key}.test.yaml`);
    writeFileSync(testFile, stringify({ rule_files: [rulesFile], evaluation_interval: "15s", tests }));
    const out = runOk("promtool", ["test", "rules", testFile]);
    expect(out).toContain("SUCCESS");
  });
});

// ---- Usable at 3 a.m.: at the threshold, low traffic, client faults, no flapping, metrics gone ----
type Case = { name: string; series: Series[]; at: string[]; fires: false | { labels: Record<string, string>; value: number } };

describe("alert rules at 3 a.m.", () => {
  const thresholds = Object.fromEntries(loadThresholds().map((t) => [t.key, t]));
  const operational = Object.fromEntries(loadOperationalAlerts().map((t) => [t.key, t]));
  const rules = findOne(renderChart([{ alerts: { enabled: true } }], { namespace: NS }).docs, "PrometheusRule").spec.groups[0].rules;
  const dir = scratch("promtool-3am");
  const rulesFile = join(dir, "rules.yaml");
  beforeAll(() => {
    requireTool("promtool", "prometheus");
    writeFileSync(rulesFile, stringify({ groups: [{ name: "socketgate.alerts", rules }] }));
  });

  /** One promtool test per case and evaluation time: the alert fires (with exact labels and annotations) or stays silent. */
  function check(alert: string, severity: string, cases: Case[]): void {
    const r = rules.find((x: any) => x.alert === alert);
    const tests = cases.flatMap((c) =>
      c.at.map((at) => ({
        name: `${alert} ${c.name} @${at}`,
        interval: `${SCRAPE}s`,
        input_series: c.series,
        alert_rule_test: [
          {
            eval_time: at,
            alertname: alert,
            exp_alerts: c.fires
              ? [
                  {
                    exp_labels: { ...c.fires.labels, severity },
                    exp_annotations: Object.fromEntries(
                      Object.entries(r.annotations as Record<string, string>).map(([k, v]) => [
                        k,
                        expand(v, { ...(c.fires && c.fires.labels), alertname: alert, severity }, c.fires ? c.fires.value : 0),
                      ]),
                    ),
                  },
                ]
              : [],
          },
        ],
      })),
    );
    const file = join(dir, `${alert}.test.yaml`);
    writeFileSync(file, stringify({ rule_files: [rulesFile], evaluation_interval: "15s", tests }));
    expect(runOk("promtool", ["test", "rules", file])).toContain("SUCCESS");
  }
  const job = { namespace: NS, job: JOB };
  /** A counter that steps by `by` once, at `atSeconds`, sampled every SCRAPE seconds. */
  const step = (name: string, labels: Record<string, string>, atSeconds: number, by = 1): Series => ({
    series: name + sel(labels),
    values: `0x${atSeconds / SCRAPE - 1} ${by}x200`,
  });

  it("error rate: exactly at the threshold is silent; 10 % of a trickle (10 events in 5 min) is silent", () => {
    const t = thresholds.errorRate!;
    const e = t.threshold * 1000;
    check(t.alert, t.severity, [
      {
        name: "at threshold",
        at: ["11m"],
        fires: false,
        series: [
          counter("socketgate_events_total", { event: "message:send", outcome: "error" }, e),
          counter("socketgate_events_total", { event: "message:send", outcome: "ok" }, 1000 - e),
        ],
      },
      {
        name: "low traffic",
        at: ["11m", "20m"],
        fires: false,
        series: [
          counter("socketgate_events_total", { event: "message:send", outcome: "error" }, 0.2),
          counter("socketgate_events_total", { event: "message:send", outcome: "ok" }, 1.8),
        ],
      },
      // Just at the floor (1 event/s) with 10 % errors it pages: the guard is a floor, not a blindfold.
      {
        name: "at the traffic floor",
        at: ["11m"],
        fires: { labels: job, value: 0.1 },
        series: [
          counter("socketgate_events_total", { event: "message:send", outcome: "error" }, 6),
          counter("socketgate_events_total", { event: "message:send", outcome: "ok" }, 54),
        ],
      },
    ]);
  });

  it("latency p95 / p99: slow events below the traffic floor are silent", () => {
    for (const key of ["latencyP95Seconds", "latencyP99Seconds"] as const) {
      const t = thresholds[key]!;
      // Every event takes 2.5 s, but only 0.5 events/s.
      const series = [...BUCKETS.map(String), "+Inf"].map((le) =>
        counter("socketgate_event_duration_seconds_bucket", { event: "message:send", le }, Number(le) >= 2.5 || le === "+Inf" ? 30 : 0),
      );
      series.push(counter("socketgate_event_duration_seconds_count", { event: "message:send" }, 30));
      check(t.alert, t.severity, [{ name: "low traffic", at: ["16m"], fires: false, series }]);
    }
  });

  it("connection failures: client-fault reasons never page, a trickle of service failures does not either", () => {
    const t = thresholds.connectionFailures!;
    check(t.alert, t.severity, [
      {
        name: "expired tokens retried",
        at: ["16m"],
        fires: false,
        series: [
          counter("socketgate_connection_failures_total", { reason: "auth_expired" }, 500),
          counter("socketgate_connection_failures_total", { reason: "auth_invalid" }, 100),
          counter("socketgate_connection_attempts_total", {}, 1000),
        ],
      },
      {
        name: "one client retrying an expired token at night",
        at: ["16m"],
        fires: false,
        series: [counter("socketgate_connection_failures_total", { reason: "auth_expired" }, 1), counter("socketgate_connection_attempts_total", {}, 6)],
      },
      {
        name: "low traffic",
        at: ["16m"],
        fires: false,
        series: [counter("socketgate_connection_failures_total", { reason: "capacity" }, 3), counter("socketgate_connection_attempts_total", {}, 6)],
      },
      {
        name: "at threshold",
        at: ["16m"],
        fires: false,
        series: [
          counter("socketgate_connection_failures_total", { reason: "redis_unavailable" }, 10),
          counter("socketgate_connection_attempts_total", {}, 1000),
        ],
      },
    ]);
  });

  it("backend API errors: silent at the threshold, on a trickle at night, on 4xx refusals and on a short burst; a real outage fires without flapping", () => {
    const t = thresholds.apiErrorRate!;
    const e = t.threshold * 1000;
    const api = (status: string, perMinute: number, route = "/v1/publish") => counter("socketgate_api_requests_total", { route, status }, perMinute);
    // At the floor (minRate/s), 10 % 5xx for longer than `for`: pages.
    const floor = t.minRate! * 60;
    // 10 % 5xx for half of `for` (2.5 min at 1000 requests/min), then healthy: the window's ratio peaks below the threshold.
    const burstSamples = secondsOf(t.for) / 2 / SCRAPE;
    const burst: Series[] = [
      { series: `socketgate_api_requests_total${sel({ route: "/v1/publish", status: "503" })}`, values: `0x30 0+25x${burstSamples} ${25 * burstSamples}x200` },
      api("200", 1000),
    ];
    // 10 % 5xx for 20 minutes, then healthy: fires once `for` has passed, at every evaluation until the
    // failures stop (no flapping), and resolves once the window no longer holds them.
    const outage: Series[] = [
      { series: `socketgate_api_requests_total${sel({ route: "/v1/publish", status: "503" })}`, values: `0+25x80 2000x200` },
      api("200", 900),
    ];
    check(t.alert, t.severity, [
      { name: "at threshold", at: ["11m"], fires: false, series: [api("503", e), api("200", 1000 - e)] },
      // 3 failures out of 30 requests in 5 min (10 %, 0.1 req/s): one backend retrying at night.
      { name: "low traffic", at: ["11m", "20m"], fires: false, series: [api("503", 0.6), api("200", 5.4)] },
      {
        name: "at the traffic floor",
        at: ["11m"],
        fires: { labels: job, value: 0.1 },
        series: [api("503", floor / 10), api("200", (floor * 9) / 10)],
      },
      // A backend with a wrong key or malformed bodies: its caller's fault, never a page.
      { name: "4xx refusals", at: ["11m"], fires: false, series: [api("401", 500), api("400", 200), api("413", 50, "/v1/publish"), api("200", 100)] },
      { name: "short burst", at: ["9m", "11m", "16m"], fires: false, series: burst },
      { name: "outage", at: ["11m", "13m", "15m", "17m", "19m"], fires: { labels: job, value: 0.1 }, series: outage },
      { name: "outage over", at: ["27m"], fires: false, series: outage },
    ]);
  });

  it("handler panics: one error fires at once and stays firing for the whole window, then resolves", () => {
    const t = thresholds.handlerPanicsPerMinute!;
    const windowS = secondsOf(t.window!);
    const labels = { ...job, event: "message:send" };
    const series = [step("socketgate_handler_errors_total", { event: "message:send" }, 120)];
    check(t.alert, t.severity, [
      { name: "before the error", at: ["105s"], fires: false, series },
      // One error in the window: rate * 60 = 60 / window seconds per minute, every evaluation.
      { name: "after one error", at: ["135s", "5m", `${120 + windowS - 30}s`], fires: { labels, value: 60 / windowS }, series },
      { name: "window passed", at: [`${120 + windowS + 30}s`], fires: false, series },
    ]);
  });

  it("process errors: one uncaughtException fires at once and holds for the window", () => {
    const t = operational.processErrors!;
    const windowS = secondsOf(t.window!);
    const labels = { ...job, pod: POD, kind: "uncaughtException" };
    const series = [
      step("socketgate_process_errors_total", { pod: POD, kind: "uncaughtException" }, 120),
      gauge("socketgate_process_errors_total", { pod: POD, kind: "unhandledRejection" }, 0),
    ];
    check(t.alert, t.severity, [
      { name: "none", at: ["105s"], fires: false, series },
      { name: "after one", at: ["135s", `${120 + windowS - 30}s`], fires: { labels, value: 1 }, series },
      { name: "window passed", at: [`${120 + windowS + 30}s`], fires: false, series },
    ]);
  });

  it("target down: a pod that cannot be scraped for the `for` duration", () => {
    const t = operational.targetDown!;
    const f = secondsOf(t.for);
    check(t.alert, t.severity, [
      { name: "down", at: [`${f + 60}s`], fires: { labels: { ...job, pod: POD }, value: 0 }, series: [gauge("up", { pod: POD }, 0)] },
      { name: "briefly down", at: [`${f / 2}s`], fires: false, series: [gauge("up", { pod: POD }, 0)] },
      { name: "up", at: [`${f + 60}s`], fires: false, series: [gauge("up", { pod: POD }, 1)] },
    ]);
  });

  it("metrics absent: no successful scrape of any pod (series gone, or every target down)", () => {
    const t = operational.metricsAbsent!;
    const f = secondsOf(t.for);
    const other = { series: `up{job="something-else",namespace="${NS}"}`, values: "1+0x200" };
    check(t.alert, t.severity, [
      { name: "gone", at: [`${f + 60}s`], fires: { labels: job, value: 1 }, series: [other] },
      { name: "all down", at: [`${f + 60}s`], fires: { labels: job, value: 1 }, series: [gauge("up", { pod: POD }, 0)] },
      { name: "one pod up", at: [`${f + 60}s`], fires: false, series: [gauge("up", { pod: POD }, 0), gauge("up", { pod: "socketgate-other" }, 1)] },
    ]);
  });

  it("fan-out unhealthy: 0 for the `for` duration fires; a blip does not", () => {
    const t = operational.fanoutUnhealthy!;
    const f = secondsOf(t.for);
    const blip = { series: `socketgate_fanout_healthy${sel({ pod: POD })}`, values: `1x8 0x${f / SCRAPE / 2} 1x200` };
    check(t.alert, t.severity, [
      {
        name: "interrupted",
        at: [`${f + 60}s`],
        fires: { labels: { ...job, pod: POD }, value: 0 },
        series: [gauge("socketgate_fanout_healthy", { pod: POD }, 0)],
      },
      { name: "healthy", at: [`${f + 60}s`], fires: false, series: [gauge("socketgate_fanout_healthy", { pod: POD }, 1)] },
      { name: "blip", at: ["3m", `${f + 180}s`], fires: false, series: [blip] },
    ]);
  });
});
