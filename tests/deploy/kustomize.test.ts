// The plain manifests: `kubectl kustomize` renders the base and both overlays, every object
// validates against the Kubernetes / prometheus-operator schemas, and they carry the same
// settings as the Helm chart (the prod overlay's scaling and monitoring objects are the chart's).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  findOne,
  loadOperationalAlerts,
  loadThresholds,
  loadYamlDocs,
  renderChart,
  repoRoot,
  requireTool,
  runOk,
  validateObjectSets,
  type K8sObject,
} from "./lib.js";
// @ts-expect-error plain ESM script without type declarations
import { renderFromChart, target } from "./sync-from-chart.mjs";

const kustomize = (dir: string): K8sObject[] => loadYamlDocs(runOk("kubectl", ["kustomize", join(repoRoot, dir)]));
const gateway = (docs: K8sObject[]) => findOne(docs, "Deployment", "socketgate");
const gatewayConfig = (docs: K8sObject[]) => {
  const name = gateway(docs).spec.template.spec.containers[0].envFrom[0].configMapRef.name;
  return findOne(docs, "ConfigMap", name).data!;
};

const DIRS = ["k8s/base", "k8s/overlays/dev", "k8s/overlays/prod"];
// One validation run for the three renderings (tsc per rendering is too slow under load).
let validation: Record<string, string[]> = {};
beforeAll(async () => {
  requireTool("kubectl", "kubectl");
  validation = await validateObjectSets(Object.fromEntries(DIRS.map((d) => [d, kustomize(d)])));
}, 180_000);

describe.each(DIRS)("%s", (dir) => {
  let docs: K8sObject[];
  beforeAll(() => {
    docs = kustomize(dir);
  });

  it("renders with kubectl kustomize and validates against the schemas", () => {
    expect(docs.length).toBeGreaterThanOrEqual(4);
    expect(validation[dir]).toEqual([]);
  });

  it("derives terminationGracePeriodSeconds from its drain settings", () => {
    const pod = gateway(docs).spec.template.spec;
    const cm = gatewayConfig(docs);
    const preStop = Number(pod.containers[0].lifecycle.preStop.exec.command[1]);
    const flushMargin = 10;
    expect(pod.terminationGracePeriodSeconds).toBe(
      preStop + Math.ceil((Number(cm.DRAIN_DELAY_MS) + Number(cm.DRAIN_WINDOW_MS) + Number(cm.PRESENCE_GRACE_MS)) / 1000) + flushMargin,
    );
  });

  it("selects its own pods consistently (Service, Deployment, spread constraints)", () => {
    const sel = gateway(docs).spec.selector.matchLabels;
    expect(sel).toEqual({ "app.kubernetes.io/name": "socketgate", "app.kubernetes.io/instance": "socketgate" });
    expect(findOne(docs, "Service", "socketgate").spec.selector).toEqual(sel);
    for (const s of gateway(docs).spec.template.spec.topologySpreadConstraints) expect(s.labelSelector.matchLabels).toEqual(sel);
  });
});

describe("base vs Helm chart defaults", () => {
  const chart = renderChart([], { namespace: "socketgate" }).docs;
  const base = kustomize("k8s/base");

  it("sets the same gateway variables to the same values", () => {
    expect(gatewayConfig(base)).toEqual(findOne(chart, "ConfigMap", "socketgate").data);
  });

  it("runs the gateway container the same way", () => {
    const pick = (c: any) => ({
      ports: c.ports.map((p: any) => [p.name, p.containerPort]),
      probes: [c.startupProbe, c.livenessProbe, c.readinessProbe],
      lifecycle: c.lifecycle,
      resources: c.resources,
      securityContext: c.securityContext,
      volumeMounts: c.volumeMounts,
    });
    const [b, h] = [gateway(base), findOne(chart, "Deployment")].map((d) => d.spec.template.spec);
    expect(pick(b.containers[0])).toEqual(pick(h.containers[0]));
    expect(b.securityContext).toEqual(h.securityContext);
    expect(b.terminationGracePeriodSeconds).toBe(h.terminationGracePeriodSeconds);
    expect(b.containers[0].env.map((e: any) => e.name)).toEqual(expect.arrayContaining(h.containers[0].env.map((e: any) => e.name)));
  });
});

describe("dev overlay", () => {
  const docs = kustomize("k8s/overlays/dev");
  it("runs one gateway against its own Redis", () => {
    expect(gateway(docs).spec.replicas).toBe(1);
    expect(findOne(docs, "Deployment", "redis").spec.template.spec.containers[0].image).toMatch(/^redis:/);
    const secretName = gateway(docs).spec.template.spec.containers[0].env.find((e: any) => e.name === "REDIS_URL").valueFrom.secretKeyRef.name;
    expect(Buffer.from(findOne(docs, "Secret", secretName).data!["redis-url"]!, "base64").toString()).toBe("redis://redis:6379/0");
    expect(gatewayConfig(docs).LOG_LEVEL).toBe("debug");
  });
});

describe("prod overlay", () => {
  const docs = kustomize("k8s/overlays/prod");

  it("carries the chart's HPA, PDB, NetworkPolicy, PodMonitor and PrometheusRule unchanged", () => {
    expect(readFileSync(target, "utf8"), "k8s/overlays/prod/from-chart.yaml is stale: run `node tests/deploy/sync-from-chart.mjs`").toBe(renderFromChart());
    for (const kind of ["HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "PodMonitor", "PrometheusRule"]) findOne(docs, kind);
    expect(
      docs.some((d) => d.kind === "Secret"),
      "prod secrets are created out of band",
    ).toBe(false);
  });

  it("alerts on this namespace's pods with the thresholds of thresholds.yaml", () => {
    const rules = findOne(docs, "PrometheusRule").spec.groups[0].rules;
    expect(rules.map((r: any) => r.alert).sort()).toEqual([...loadThresholds(), ...loadOperationalAlerts()].map((t) => t.alert).sort());
    for (const r of rules) expect(r.expr).toContain(`namespace="${findOne(docs, "Deployment").metadata.namespace}"`);
    expect(findOne(docs, "PodMonitor").spec.namespaceSelector.matchNames).toEqual(["socketgate"]);
  });

  it("starts at the HPA's minimum and trusts one proxy hop", () => {
    expect(gateway(docs).spec.replicas).toBe(findOne(docs, "HorizontalPodAutoscaler").spec.minReplicas);
    expect(gatewayConfig(docs).TRUST_PROXY_HOPS).toBe("1");
  });
});
