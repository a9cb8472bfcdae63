// The rendered alert rules pass `promtool check rules`, and `promtool test rules` proves each alert
// fires just above its threshold in thresholds.yaml and stays silent at or just below it. The
// synthetic series are generated from thresholds.yaml, so a changed number is tested as it is.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { findOne, loadThresholds, renderChart, requireTool, runOk, scratch, type ThresholdEntry } from "./lib.js";

const NS = "socketgate";
const JOB = "socketgate";
const POD = "socketgate-7d9f-abcde";
const SCRAPE = 15; // seconds between synthetic samples, like the ServiceMonitor's interval
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type Series = { series: string; values: string };
type Scenario = { series: Series[]; labels: Record<string, string>; value: number };

const sel = (extra: Record<string, string> = {}) =>
  "{" + Object.entries({ job: JOB, namespace: NS, ...extra }).map(([k, v]) => `${k}="${v}"`).join(",") + "}";
const gauge = (name: string, labels: Record<string, string>, v: number): Series => ({ series: name + sel(labels), values: `${v}+0x200` });
/** A counter growing by perMinute each minute, sampled every SCRAPE seconds. */
const counter = (name: string, labels: Record<string, string>, perMinute: number): Series =>
  ({ series: name + sel(labels), values: `0+${(perMinute * SCRAPE) / 60}x200` });

function histogramScenario(q: number, t: number, above: boolean): Scenario {
  // N observations a minute; the bucket ending at t gets just under (above) or just over (below)
  // q*N of them, the next bucket the rest, so the q-quantile lands just above or just below t.
  const N = 10000;
  const i = BUCKETS.indexOf(t);
  if (i < 1) throw new Error(`latency threshold ${t} must be a bucket boundary above the first`);
  const k = q * N + (above ? -1 : 1);
  const series = [...BUCKETS.map(String), "+Inf"].map((le, j) =>
    counter("socketgate_event_duration_seconds_bucket", { event: "message:send", le }, j < i ? 0 : j === i ? k : N));
  const [prev, next] = [BUCKETS[i - 1]!, BUCKETS[i + 1]!];
  const value = above ? t + ((q * N - k) / (N - k)) * (next - t) : prev + ((q * N) / k) * (t - prev);
  return { series, labels: { namespace: NS, job: JOB }, value };
}

/** Inputs that put each alert's expression just above (or at/just below) its threshold. */
const scenarios: Record<string, (t: number, above: boolean) => Scenario> = {
  connections: (t, above) => {
    const v = t * 1000 + (above ? 1 : -1);
    return { series: [gauge("socketgate_connections", { pod: POD, transport: "websocket" }, v - 10),
      gauge("socketgate_connections", { pod: POD, transport: "polling" }, 10), gauge("socketgate_connections_max", { pod: POD }, 1000)],
    labels: { namespace: NS, pod: POD }, value: v / 1000 };
  },
  errorRate: (t, above) => {
    const e = t * 1000 + (above ? 1 : -1);
    return { series: [counter("socketgate_events_total", { event: "message:send", outcome: "error" }, e),
      counter("socketgate_events_total", { event: "message:send", outcome: "ok" }, 1000 - e - 20),
      counter("socketgate_events_total", { event: "room:join", outcome: "rejected" }, 10),
      counter("socketgate_events_total", { event: "message:send", outcome: "rate_limited" }, 10)],
    labels: { namespace: NS, job: JOB }, value: e / 1000 };
  },
  memory: (t, above) => {
    const rss = t * 1e9 + (above ? 1e6 : -1e6);
    return { series: [gauge("process_resident_memory_bytes", { pod: POD }, rss), gauge("socketgate_memory_limit_bytes", { pod: POD }, 1e9)],
      labels: { namespace: NS, pod: POD }, value: rss / 1e9 };
  },
  latencyP95Seconds: (t, above) => histogramScenario(0.95, t, above),
  latencyP99Seconds: (t, above) => histogramScenario(0.99, t, above),
  handlerPanicsPerMinute: (t, above) => {
    const perMin = above ? t + 1 : Math.max(t - 1, 0);
    return { series: [counter("socketgate_handler_errors_total", { event: "message:send" }, perMin)],
      labels: { namespace: NS, job: JOB, event: "message:send" }, value: perMin };
  },
  connectionFailures: (t, above) => {
    const f = t * 1000 + (above ? 1 : -1);
    return { series: [counter("socketgate_connection_failures_total", { reason: "auth_invalid" }, f),
      counter("socketgate_connection_attempts_total", {}, 1000)],
    labels: { namespace: NS, job: JOB }, value: f / 1000 };
  },
};

// Go's %.4g, which Prometheus' humanize functions use.
const g4 = (v: number) => String(Number(v.toPrecision(4)));
const humanizers: Record<string, (v: number) => string> = {
  humanize: (v) => g4(v),
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
    expect(out).toContain(`SUCCESS: ${thresholds.length} rules found`);
  });

  it.each(thresholds.map((t) => [t.alert, t] as [string, ThresholdEntry]))(
    "%s fires just above its threshold and stays silent below it", (_name, t) => {
      const r = rule.spec.groups[0].rules.find((x: any) => x.alert === t.alert);
      const evalSeconds = secondsOf(t.for) + 6 * 60; // rate windows filled, `for` elapsed
      const tests = [true, false].map((above) => {
        const s = scenarios[t.key]!(t.threshold, above);
        const labels = { ...s.labels, alertname: t.alert, severity: t.severity };
        return {
          name: `${t.alert} ${above ? "above" : "below"} ${t.threshold}`,
          interval: `${SCRAPE}s`,
          input_series: s.series,
          alert_rule_test: [{
            eval_time: `${evalSeconds}s`,
            alertname: t.alert,
            exp_alerts: above ? [{
              exp_labels: { ...s.labels, severity: t.severity },
              exp_annotations: Object.fromEntries(Object.entries(r.annotations as Record<string, string>).map(([k, v]) => [k, expand(v, labels, s.value)])),
            }] : [],
          }],
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
