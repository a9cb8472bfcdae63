// One set of alert numbers: helm/socketgate/thresholds.yaml. values.yaml, the rendered
// PrometheusRule, README.md's table and the runbooks in docs/operations.md must all agree with it.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_CLASSES } from "../../src/errors.js";
import { FAILURE_REASONS } from "../../src/ops/metrics.js";
import { findOne, loadOperationalAlerts, loadThresholds, readYaml, renderChart, repoRoot } from "./lib.js";
// @ts-expect-error plain ESM script without type declarations
import { thresholdsTable } from "./print-thresholds-table.mjs";

const thresholds = loadThresholds();
const operational = loadOperationalAlerts();
const everyAlert = [...thresholds, ...operational];
// socketgate_event_duration_seconds buckets as the gateway registers them.
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

describe("thresholds.yaml", () => {
  it("holds the seven alerts of SPEC.md with the contract's numbers, and the backend API's error ratio", () => {
    expect(Object.fromEntries(thresholds.map((t) => [t.key, t.threshold]))).toEqual({
      connections: 0.8,
      errorRate: 0.05,
      memory: 0.8,
      latencyP95Seconds: 1,
      latencyP99Seconds: 0.1,
      handlerPanicsPerMinute: 0,
      connectionFailures: 0.01,
      apiErrorRate: 0.05,
    });
    // Only SPEC's seven cite SPEC's sources; the additions say where they come from.
    expect(thresholds.filter((t) => t.source.startsWith("operations (3 a.m.")).map((t) => t.key)).toEqual(["apiErrorRate"]);
    for (const t of thresholds) {
      expect(t.severity, t.key).toMatch(/^(critical|warning)$/);
      expect(t.for, t.key).toMatch(/^\d+[smh]$/);
      expect(t.firesWhen, t.key).toContain("{threshold}");
    }
  });

  it("guards every traffic ratio and latency alert with a minimum rate over its window (usable at 3 a.m.)", () => {
    const guarded = thresholds
      .filter((t) => t.minRate !== undefined)
      .map((t) => t.key)
      .sort();
    expect(guarded).toEqual(["apiErrorRate", "connectionFailures", "errorRate", "latencyP95Seconds", "latencyP99Seconds"]);
    for (const t of thresholds.filter((x) => x.key !== "connections" && x.key !== "memory")) expect(t.window, t.key).toMatch(/^\d+m$/);
    // Client-fault reasons are a subset of the gateway's closed reason list and agree with its one
    // error table: every handshake reason of a client-fault code is excluded, no gateway-fault one is.
    const excluded = thresholds.find((t) => t.key === "connectionFailures")!.excludeReasons!;
    expect(FAILURE_REASONS).toEqual(expect.arrayContaining(excluded));
    const classes = Object.values(ERROR_CLASSES);
    for (const c of classes.filter((x) => x.fault === "client")) expect(excluded, c.handshakeReason).toContain(c.handshakeReason);
    for (const c of classes.filter((x) => x.fault === "gateway")) expect(excluded, c.handshakeReason).not.toContain(c.handshakeReason);
  });

  it("lists the operational alerts of SPEC's 3 a.m. paragraph", () => {
    expect(operational.map((o) => o.key)).toEqual(["targetDown", "metricsAbsent", "processErrors", "fanoutUnhealthy"]);
  });

  it("puts latency thresholds on histogram bucket boundaries, so the quantile is exact there", () => {
    for (const t of thresholds.filter((x) => x.unit === "seconds")) expect(LATENCY_BUCKETS, t.key).toContain(t.threshold);
  });
});

describe("values.yaml", () => {
  const alerts = readYaml("helm/socketgate/values.yaml").alerts;
  it("carries exactly the numbers, durations and severities of thresholds.yaml", () => {
    expect(alerts.thresholds).toEqual(Object.fromEntries(thresholds.map((t) => [t.key, t.threshold])));
    expect(alerts.minRate).toEqual(Object.fromEntries(thresholds.filter((t) => t.minRate !== undefined).map((t) => [t.key, t.minRate])));
    expect(alerts.for).toEqual(Object.fromEntries(everyAlert.map((t) => [t.key, t.for])));
    expect(alerts.severity).toEqual(Object.fromEntries(everyAlert.map((t) => [t.key, t.severity])));
  });
});

describe("rendered PrometheusRule", () => {
  const rules = findOne(renderChart([{ alerts: { enabled: true } }]).docs, "PrometheusRule").spec.groups.flatMap((g: any) => g.rules);

  it("has one alert per threshold and operational alert, with its number, guard, for, severity and runbook", () => {
    expect(rules.map((r: any) => r.alert).sort()).toEqual(everyAlert.map((t) => t.alert).sort());
    for (const t of thresholds) {
      const r = rules.find((x: any) => x.alert === t.alert);
      expect(r.expr.trim(), t.alert).toMatch(new RegExp(`> ${String(t.threshold).replace(".", "\\.")}$`));
      if (t.minRate !== undefined) expect(r.expr, t.alert).toContain(`[${t.window}])) >= ${t.minRate})`);
      if (t.window) expect(r.expr, t.alert).toContain(`[${t.window}]`);
    }
    for (const t of everyAlert) {
      const r = rules.find((x: any) => x.alert === t.alert);
      expect(r.for, t.alert).toBe(t.for);
      expect(r.labels.severity, t.alert).toBe(t.severity);
      expect(r.annotations.summary, t.alert).toBeTruthy();
      expect(r.annotations.description, t.alert).toBeTruthy();
      expect(r.annotations.runbook_url, t.alert).toMatch(new RegExp(`/docs/operations\\.md#${t.alert.toLowerCase()}$`));
    }
  });

  it("takes its numbers from values, so a release can override one", () => {
    const over = findOne(renderChart([{ alerts: { enabled: true, thresholds: { errorRate: 0.2 }, for: { errorRate: "15m" } } }]).docs, "PrometheusRule");
    const r = over.spec.groups[0].rules.find((x: any) => x.alert === "SocketgateEventErrorRateHigh");
    expect(r.expr.trim()).toMatch(/> 0\.2$/);
    expect(r.for).toBe("15m");
  });
});

describe("docs/operations.md", () => {
  it("has a runbook section for every alert", () => {
    const doc = readFileSync(join(repoRoot, "docs/operations.md"), "utf8");
    for (const t of everyAlert) {
      const start = doc.indexOf(`\n### ${t.alert}\n`);
      expect(start, `docs/operations.md needs a "### ${t.alert}" runbook`).toBeGreaterThan(0);
      const next = doc.slice(start + 1).search(/\n#{2,3} /);
      const section = doc.slice(start, next === -1 ? undefined : start + 1 + next);
      for (const part of ["Meaning", "Impact", "Diagnosis", "Mitigation"]) expect(section, `${t.alert} runbook: ${part}`).toContain(`**${part}**`);
    }
  });
});

describe("README.md", () => {
  it("contains exactly the table printed from thresholds.yaml", () => {
    const fix = "run `node tests/deploy/print-thresholds-table.mjs` and paste its output into README.md";
    const readme = join(repoRoot, "README.md");
    if (!existsSync(readme)) throw new Error(`README.md is missing: ${fix}`);
    const m = /<!-- thresholds:begin -->\n([\s\S]*?)\n<!-- thresholds:end -->/.exec(readFileSync(readme, "utf8"));
    if (!m) throw new Error(`README.md has no <!-- thresholds:begin --> / <!-- thresholds:end --> markers: ${fix}`);
    expect(m[1], `README.md's threshold table is stale: ${fix}`).toBe(thresholdsTable());
  });
});

describe("dashboard threshold lines", () => {
  it("draw the alert thresholds of thresholds.yaml on the panels of the alerted quantities", () => {
    const dash = JSON.parse(readFileSync(join(repoRoot, "dashboards/socketgate.json"), "utf8"));
    const lines = (title: string) => {
      const p = dash.panels.find((x: any) => x.title === title);
      expect(p.fieldConfig.defaults.custom.thresholdsStyle.mode, title).toBe("line");
      return p.fieldConfig.defaults.thresholds.steps.filter((s: any) => s.value !== null).map((s: any) => s.value);
    };
    const t = Object.fromEntries(thresholds.map((x) => [x.key, x.threshold]));
    expect(lines("Connection failure rate")).toEqual([t.connectionFailures]);
    expect(lines("Error rate by event")).toEqual([t.errorRate]);
    expect(lines("Backend API error ratio")).toEqual([t.apiErrorRate]);
    // Per-pod ratios of two series: the alert line is the limit times the threshold.
    const alertLine = (title: string, metric: string) => {
      const p = dash.panels.find((x: any) => x.title === title);
      const line = p.targets.find((x: any) => x.expr.includes(metric) && /\* [\d.]+$/.test(x.expr));
      expect(line, `${title}: a "${metric} * threshold" series`).toBeTruthy();
      return Number(/\* ([\d.]+)$/.exec(line.expr)![1]);
    };
    expect(alertLine("Connections vs limit per pod", "socketgate_connections_max")).toBe(t.connections);
    expect(alertLine("Memory vs limit per pod", "socketgate_memory_limit_bytes")).toBe(t.memory);
    expect(lines("Event latency p50 / p95 / p99")).toEqual([t.latencyP99Seconds, t.latencyP95Seconds]);
  });
});
