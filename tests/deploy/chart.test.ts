// The chart renders (with a Go text/template + sprig stand-in for `helm template`) for every value
// set, passes values.schema.json, validates against the Kubernetes / prometheus-operator / KEDA
// schemas, and encodes the operational decisions of issue 7.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import {
  chartDir,
  findOne,
  loadThresholds,
  mergedValues,
  renderChart,
  renderChartError,
  repoRoot,
  validateObjectSets,
  validateObjects,
  type K8sObject,
} from "./lib.js";
import { EXCLUDED, gatewaySettings } from "./chart-settings.js";
import { valueSets } from "./value-sets.js";

const schema = JSON.parse(readFileSync(join(chartDir, "values.schema.json"), "utf8"));
const validateValues = new Ajv({ allErrors: true, strict: false }).compile(schema);

// The gateway's configuration table (src/config.ts, the README) minus what the chart must never
// set: the only variables the chart may set (plus OTEL_* and gateway.extraConfig).
const GATEWAY_ENV = new Set(gatewaySettings().map((s) => s.name));
const CRD_KINDS = ["ServiceMonitor", "PodMonitor", "PrometheusRule", "ScaledObject"];

const podSpec = (docs: K8sObject[]) => findOne(docs, "Deployment").spec.template.spec;
const container = (docs: K8sObject[]) => podSpec(docs).containers[0];

const rendered = Object.fromEntries(Object.entries(valueSets).map(([name, values]) => [name, renderChart(values)]));
// One schema + TypeScript validation run for every value set (tsc per set is too slow under load).
let validation: Record<string, string[]> = {};
beforeAll(async () => {
  validation = await validateObjectSets(Object.fromEntries(Object.entries(rendered).map(([name, r]) => [name, r.docs])));
}, 180_000);

describe.each(Object.keys(valueSets))("chart rendered with %s values", (name) => {
  const { docs, values: merged } = rendered[name]!;

  it("passes values.schema.json", () => {
    expect(validateValues(merged), JSON.stringify(validateValues.errors, null, 1)).toBe(true);
  });

  it("validates against the Kubernetes, prometheus-operator and KEDA schemas", () => {
    expect(docs.length).toBeGreaterThan(3);
    expect(validation[name]).toEqual([]);
  });

  it("sets only variables of the gateway's configuration table, none of those excluded on purpose", () => {
    const cm = findOne(docs, "ConfigMap", "socketgate");
    const names = [...Object.keys(cm.data ?? {}), ...container(docs).env.map((e: { name: string }) => e.name)];
    const extra = new Set(Object.keys(merged.gateway.extraConfig));
    expect(names.filter((n) => !GATEWAY_ENV.has(n) && !extra.has(n) && !n.startsWith("OTEL_"))).toEqual([]);
    expect(names.filter((n) => n in EXCLUDED)).toEqual([]);
  });

  it("passes the rebalancing values in a form the gateway's config accepts", () => {
    const cm = findOne(docs, "ConfigMap", "socketgate").data!;
    const r = merged.rebalance;
    expect([cm.REBALANCE, cm.REBALANCE_TOLERANCE, cm.REBALANCE_AFTER_MS, cm.REBALANCE_MAX_PER_S]).toEqual([
      r.enabled ? "1" : "0",
      String(r.tolerance),
      String(r.afterMs),
      String(r.maxPerSecond),
    ]);
    expect(
      loadConfig({
        REBALANCE: cm.REBALANCE,
        REBALANCE_TOLERANCE: cm.REBALANCE_TOLERANCE,
        REBALANCE_AFTER_MS: cm.REBALANCE_AFTER_MS,
        REBALANCE_MAX_PER_S: cm.REBALANCE_MAX_PER_S,
      }).rebalance,
    ).toEqual({ enabled: r.enabled, tolerance: r.tolerance, afterMs: r.afterMs, maxPerS: r.maxPerSecond });
  });

  it("derives terminationGracePeriodSeconds from the drain settings", () => {
    const d = merged.drain;
    // An explicit DRAIN_TIMEOUT_MS (above the drain's own length) is the gateway's deadline: the grace period covers it.
    const drainMs = Math.max(d.delayMs + d.windowMs + merged.gateway.presenceGraceMs, d.timeoutMs ?? 0);
    const expected = d.preStopSleepSeconds + Math.ceil(drainMs / 1000) + d.flushMarginSeconds;
    expect(podSpec(docs).terminationGracePeriodSeconds).toBe(expected);
    const preStop = container(docs).lifecycle?.preStop?.exec?.command;
    expect(preStop ?? null).toEqual(d.preStopSleepSeconds > 0 ? ["sleep", String(d.preStopSleepSeconds)] : null);
    const cm = findOne(docs, "ConfigMap", "socketgate").data!;
    expect([cm.DRAIN_DELAY_MS, cm.DRAIN_WINDOW_MS]).toEqual([String(d.delayMs), String(d.windowMs)]);
  });
});

describe("default values", () => {
  const { docs } = renderChart();
  const kinds = docs.map((d) => d.kind).sort();

  it("render the gateway, its config, PDB, network policy and helm test Pod, and no Redis", () => {
    expect(kinds).toEqual(["ConfigMap", "ConfigMap", "Deployment", "NetworkPolicy", "Pod", "PodDisruptionBudget", "Secret", "Service", "ServiceAccount"]);
    expect(JSON.stringify(docs)).not.toMatch(/image":"[^"]*redis/);
    expect(findOne(docs, "Deployment").spec.replicas).toBe(1);
  });

  it("probe /healthz and /readyz on the ops port and expose http and ops", () => {
    const c = container(docs);
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "ops" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "ops" });
    expect(c.ports.map((p: any) => [p.name, p.containerPort])).toEqual([
      ["http", 3000],
      ["ops", 9090],
    ]);
    expect(findOne(docs, "Service").spec.ports.map((p: any) => [p.name, p.targetPort])).toEqual([
      ["http", "http"],
      ["ops", "ops"],
    ]);
    const sm = findOne(renderChart(valueSets.production).docs, "ServiceMonitor").spec;
    expect(sm.endpoints).toMatchObject([{ port: "ops", path: "/metrics" }]);
  });

  it("run as non-root on a read-only root filesystem with a writable /tmp", () => {
    const c = container(docs);
    expect(podSpec(docs).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    expect(c.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    expect(c.resources.requests.cpu).toBeDefined();
    expect(c.resources.limits.memory).toBeDefined();
  });

  it("spread pods over zones and nodes, selecting this release's pods", () => {
    const spread = podSpec(docs).topologySpreadConstraints;
    expect(spread.map((s: any) => s.topologyKey)).toEqual(["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
    for (const s of spread) expect(s.labelSelector.matchLabels).toEqual(findOne(docs, "Deployment").spec.selector.matchLabels);
  });

  it("keep a PodDisruptionBudget on", () => {
    expect(findOne(docs, "PodDisruptionBudget").spec).toMatchObject({ maxUnavailable: 1 });
  });

  it("need no CRD: nothing from prometheus-operator or KEDA unless enabled", () => {
    expect(kinds.filter((k) => CRD_KINDS.includes(k))).toEqual([]);
    expect(docs.every((d) => ["v1", "apps/v1", "policy/v1", "networking.k8s.io/v1"].includes(d.apiVersion))).toBe(true);
  });

  it("block no other namespace from scraping: the ops port admits pods of every namespace, the public port everyone", () => {
    const rules = findOne(docs, "NetworkPolicy").spec.ingress;
    const ops = rules.find((r: any) => r.ports.some((p: any) => p.port === "ops"));
    // An empty namespaceSelector matches every namespace (a Prometheus in "observability" or "kube-system" alike).
    expect(ops.from).toEqual([{ namespaceSelector: {} }]);
    const http = rules.find((r: any) => r.ports.some((p: any) => p.port === "http"));
    expect(http.from).toBeUndefined();
    // Nothing else in the policy narrows it: exactly these two rules, ingress only.
    expect(rules).toHaveLength(2);
    expect(findOne(docs, "NetworkPolicy").spec.policyTypes).toEqual(["Ingress"]);
  });

  it("let metricsFrom narrow the ops port to one namespace", () => {
    const rules = findOne(renderChart(valueSets.extensions).docs, "NetworkPolicy").spec.ingress;
    const ops = rules.find((r: any) => r.ports.some((p: any) => p.port === "ops"));
    expect(ops.from).toEqual([{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }]);
  });

  it("ship the dashboard of dashboards/ for Grafana's sidecar", () => {
    const cm = findOne(docs, "ConfigMap", "socketgate-dashboard");
    expect(cm.metadata.labels?.grafana_dashboard).toBe("1");
    const canonical = readFileSync(join(repoRoot, "dashboards/socketgate.json"), "utf8");
    expect(
      readFileSync(join(chartDir, "dashboards/socketgate.json"), "utf8"),
      "helm/socketgate/dashboards/socketgate.json must be a copy of dashboards/socketgate.json",
    ).toBe(canonical);
    expect(JSON.parse(cm.data!["socketgate.json"]!)).toEqual(JSON.parse(canonical));
  });

  it("print usable NOTES", () => {
    const notes = renderChart([], { notes: true }).text;
    expect(notes).toContain("port-forward svc/socketgate");
    expect(notes).toContain("terminationGracePeriodSeconds");
  });
});

describe("pods roll on configuration change", () => {
  const secret = { auth: { jwt: { secret: "s".repeat(32) } } };
  const checksums = (values: object[]) => findOne(renderChart([secret, ...values]).docs, "Deployment").spec.template.metadata.annotations;

  it("config and secret checksums are stable for equal values and follow their own object", () => {
    const base = checksums([]);
    expect(checksums([])).toEqual(base);
    const logChanged = checksums([{ gateway: { logLevel: "debug" } }]);
    expect(logChanged["checksum/config"]).not.toBe(base["checksum/config"]);
    expect(logChanged["checksum/secret"]).toBe(base["checksum/secret"]);
    const keyChanged = checksums([{ auth: { apiKeys: ["another-key-0123456789"] } }]);
    expect(keyChanged["checksum/secret"]).not.toBe(base["checksum/secret"]);
    expect(keyChanged["checksum/config"]).toBe(base["checksum/config"]);
  });
});

describe("autoscaling", () => {
  const thresholds = Object.fromEntries(loadThresholds().map((t) => [t.key, t.threshold]));

  it("HPA scales on CPU and on connections per pod, targeting below the connections alert", () => {
    const { docs, values } = renderChart(valueSets.production);
    expect(findOne(docs, "Deployment").spec.replicas).toBeUndefined();
    const hpa = findOne(docs, "HorizontalPodAutoscaler").spec;
    expect(hpa.metrics[0]).toMatchObject({ type: "Resource", resource: { name: "cpu" } });
    const conn = hpa.metrics[1];
    expect(conn).toMatchObject({ type: "Pods", pods: { metric: { name: "socketgate_connections" }, target: { type: "AverageValue" } } });
    const target = Number(conn.pods.target.averageValue);
    expect(target).toBe(600);
    expect(target / values.gateway.maxConnections).toBeLessThan(thresholds.connections!);
    expect(docs.some((d) => d.kind === "ScaledObject")).toBe(false);
  });

  it("scales down slowly and one pod at a time, scales up fast", () => {
    const b = findOne(renderChart(valueSets.production).docs, "HorizontalPodAutoscaler").spec.behavior;
    expect(b.scaleDown.stabilizationWindowSeconds).toBeGreaterThanOrEqual(600);
    expect(b.scaleDown.policies).toEqual([{ type: "Pods", value: 1, periodSeconds: 300 }]);
    expect(b.scaleUp.stabilizationWindowSeconds).toBe(0);
  });

  it("KEDA replaces the HPA with a ScaledObject on the same connections target and behavior", () => {
    const { docs } = renderChart(valueSets.keda);
    expect(docs.some((d) => d.kind === "HorizontalPodAutoscaler")).toBe(false);
    const so = findOne(docs, "ScaledObject").spec;
    const prom = so.triggers.find((t: any) => t.type === "prometheus");
    expect(prom.metadata.query).toBe('sum(socketgate_connections{job="socketgate", namespace="socketgate"})');
    expect(prom.metadata.threshold).toBe("600");
    expect(prom.metricType).toBe("AverageValue");
    // An empty query result (Prometheus down, selector wrong) is an error, never 0 connections.
    expect(so.triggers.filter((t: any) => t.type === "prometheus").map((t: any) => t.metadata.ignoreNullValues)).toEqual(["false", "false"]);
    const hottest = so.triggers.find((t: any) => t.name === "hottest-pod");
    expect(hottest).toMatchObject({
      metricType: "Value",
      metadata: { query: 'max(sum by (pod) (socketgate_connections{job="socketgate", namespace="socketgate"}))', threshold: "700" },
    });
    expect(Number(hottest.metadata.threshold) / 1000).toBeLessThan(thresholds.connections!);
    expect(so.triggers.find((t: any) => t.type === "cpu").metadata.value).toBe("70");
    expect(so.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds).toBe(900);
    expect(findOne(docs, "Deployment").spec.replicas).toBeUndefined();
  });

  it("refuses a connections target at or above the alert threshold", () => {
    const err = renderChartError([...valueSets.production, { autoscaling: { connections: { targetUtilization: thresholds.connections } } }]);
    expect(err).toContain("targetUtilization must stay below alerts.thresholds.connections");
  });

  it("refuses more than one pod without Redis", () => {
    expect(renderChartError([{ replicaCount: 2 }])).toContain("needs Redis");
    expect(renderChartError([{ autoscaling: { enabled: true } }])).toContain("needs Redis");
  });
});

describe("ingress", () => {
  const { docs, values } = renderChart(valueSets.ingress);
  const ing = findOne(docs, "Ingress");

  it("keeps idle WebSockets open longer than the heartbeat and pins long-polling sessions", () => {
    const a = ing.metadata.annotations!;
    const heartbeatS = (values.gateway.pingIntervalMs + values.gateway.pingTimeoutMs) / 1000;
    expect(Number(a["nginx.ingress.kubernetes.io/proxy-read-timeout"])).toBeGreaterThan(heartbeatS);
    expect(Number(a["nginx.ingress.kubernetes.io/proxy-send-timeout"])).toBeGreaterThan(heartbeatS);
    expect(a["nginx.ingress.kubernetes.io/affinity"]).toBe("cookie");
    expect(a["nginx.ingress.kubernetes.io/session-cookie-name"]).toBe("socketgate-affinity");
  });

  it("routes the host to the public port with TLS", () => {
    expect(ing.spec.rules[0].host).toBe("rt.example.com");
    expect(ing.spec.rules[0].http.paths[0].backend.service).toEqual({ name: "socketgate", port: { name: "http" } });
    expect(ing.spec.tls[0].secretName).toBe("rt-tls");
    expect(findOne(docs, "Secret").data!["redis-url"]).toBe(Buffer.from("redis://:pw@redis-master:6379/0").toString("base64"));
  });

  it("lets user annotations override the defaults and can drop affinity", () => {
    const a = findOne(
      renderChart([
        ...valueSets.ingress,
        { ingress: { annotations: { "nginx.ingress.kubernetes.io/proxy-read-timeout": "120" }, cookieAffinity: { enabled: false } } },
      ]).docs,
      "Ingress",
    ).metadata.annotations!;
    expect(a["nginx.ingress.kubernetes.io/proxy-read-timeout"]).toBe("120");
    expect(a["nginx.ingress.kubernetes.io/affinity"]).toBeUndefined();
  });
});

describe("secrets", () => {
  it("existingSecret: no chart Secret, every key read from the named one, PEM mounted as a file", () => {
    const { docs } = renderChart(valueSets.existingSecret);
    expect(docs.some((d) => d.kind === "Secret")).toBe(false);
    const c = container(docs);
    const refs = c.env.filter((e: any) => e.valueFrom?.secretKeyRef).map((e: any) => e.valueFrom.secretKeyRef.name);
    expect(new Set(refs)).toEqual(new Set(["socketgate-credentials"]));
    expect(c.env.map((e: any) => e.name)).toEqual(expect.arrayContaining(["API_KEYS", "REDIS_URL"]));
    expect(c.env.map((e: any) => e.name)).not.toContain("JWT_SECRET");
    expect(findOne(docs, "ConfigMap", "socketgate").data!.JWT_PUBLIC_KEY_FILE).toBe("/etc/socketgate/secret/jwt-public-key.pem");
    expect(podSpec(docs).volumes).toContainEqual({
      name: "secret-files",
      secret: { secretName: "socketgate-credentials", items: [{ key: "jwt-public-key.pem", path: "jwt-public-key.pem" }] },
    });
    expect(findOne(docs, "Deployment").spec.template.metadata.annotations["checksum/secret"]).toBeUndefined();
  });

  it("values: JWT secret and API keys land in the chart's Secret", () => {
    const { docs } = renderChart(valueSets.production);
    const data = findOne(docs, "Secret").data!;
    expect(Buffer.from(data["jwt-secret"]!, "base64").toString()).toBe("0123456789abcdef0123456789abcdef");
    expect(Buffer.from(data["api-keys"]!, "base64").toString()).toBe("backend-key-0123456789abcdef");
    expect(findOne(docs, "ConfigMap", "socketgate").data).toMatchObject({
      REDIS_SENTINELS: "redis-sentinel-0.redis:26379,redis-sentinel-1.redis:26379",
      REDIS_SENTINEL_NAME: "mymaster",
    });
  });

  it("an empty JWT secret is generated rather than left empty", () => {
    const data = findOne(renderChart().docs, "Secret").data!;
    expect(Buffer.from(data["jwt-secret"]!, "base64").toString()).toMatch(/^[A-Za-z0-9]{48}$/);
  });
});

describe("schema validation of rendered objects", () => {
  // Guards the guard: the validator must notice a wrong type and an unknown (misspelt) field.
  it("reports a wrong type and an unknown field", async () => {
    const { docs } = renderChart(valueSets.production);
    const hpa = structuredClone(findOne(docs, "HorizontalPodAutoscaler"));
    hpa.spec.behavior.scaleDown.stabilisationWindowSeconds = 900;
    const dep = structuredClone(findOne(docs, "Deployment"));
    dep.spec.template.spec.terminationGracePeriodSeconds = "38";
    const rule = structuredClone(findOne(docs, "PrometheusRule"));
    rule.spec.groups[0].rules[0].fro = "5m";
    const problems = await validateObjects([hpa, dep, rule]);
    expect(problems.some((p) => p.startsWith("HorizontalPodAutoscaler/socketgate") && p.includes("stabilisationWindowSeconds"))).toBe(true);
    expect(problems.some((p) => p.startsWith("Deployment/socketgate") && p.includes("terminationGracePeriodSeconds"))).toBe(true);
    expect(problems.some((p) => p.startsWith("PrometheusRule/socketgate") && p.includes("fro"))).toBe(true);
  }, 120_000);
});

describe("values.schema.json", () => {
  it("rejects typos and wrong types", () => {
    for (const bad of [
      { replicaCount: "2" },
      { gateway: { maxConection: 5 } },
      { redis: { mode: "sentinal" } },
      { alerts: { thresholds: { connections: 80 } } },
      { alerts: { for: { connections: "5 minutes" } } },
      // Named gateway settings: the gateway's own ranges and types (issue 16).
      { limits: { maxBodyBytes: 10 } },
      { limits: { maxBodyByte: 65536 } },
      { delivery: { historyTtlMs: "7d" } },
      { auth: { kickTtlMs: 1000 } },
      { auth: { roomsClaimDefault: "lobby" } },
      { redis: { ackReplicas: 17 } },
      { gateway: { allowUwsFallback: 1 } },
    ]) {
      const merged = mergedValues([bad]);
      expect(validateValues(merged), JSON.stringify(bad)).toBe(false);
    }
  });
});

describe("JWT secret across renders (issue 16)", () => {
  const jwtOf = (docs: K8sObject[]) => findOne(docs, "Secret").data!["jwt-secret"];

  it("an installed secret is kept by every later render (Helm lookup), and pods do not roll", () => {
    const first = renderChart();
    const installed = findOne(first.docs, "Secret");
    const cluster = [{ ...installed, metadata: { ...installed.metadata, namespace: "socketgate" } }];
    const second = renderChart([], { cluster });
    const third = renderChart([], { cluster });
    expect(jwtOf(second.docs)).toBe(jwtOf(first.docs));
    expect(jwtOf(third.docs)).toBe(jwtOf(first.docs));
    const checksum = (docs: K8sObject[]) => findOne(docs, "Deployment").spec.template.metadata.annotations["checksum/secret"];
    expect(checksum(second.docs)).toBe(checksum(first.docs));
  });

  it("without a cluster (helm template, Argo CD) a generated secret would change, so its checksum ignores it", () => {
    const [a, b] = [renderChart(), renderChart()];
    expect(jwtOf(a.docs)).not.toBe(jwtOf(b.docs)); // what auth.jwt.generate=false exists for
    const checksum = (docs: K8sObject[]) => findOne(docs, "Deployment").spec.template.metadata.annotations["checksum/secret"];
    expect(checksum(a.docs)).toBe(checksum(b.docs));
  });

  it("auth.jwt.generate=false refuses to render without a secret, and two renders with one are identical", () => {
    expect(renderChartError([{ auth: { jwt: { generate: false } } }])).toContain("auth.jwt.generate=false: set auth.jwt.secret or auth.existingSecret");
    const fixed = [{ auth: { jwt: { generate: false, secret: "k".repeat(40) } } }];
    expect(renderChart(fixed).text).toBe(renderChart(fixed).text);
    const external = [{ auth: { jwt: { generate: false }, existingSecret: "sg-credentials" } }];
    expect(renderChart(external).text).toBe(renderChart(external).text);
  });
});

describe("managed Redis values (issue 16)", () => {
  it("cluster + ACL user + passwords from an existing Secret + mounted CA and client certificate", () => {
    const { docs } = renderChart(valueSets.managedRedis);
    const cm = findOne(docs, "ConfigMap", "socketgate").data!;
    expect(cm).toMatchObject({
      REDIS_CLUSTER_NODES: "clustercfg.redis.example.internal:6379",
      REDIS_USERNAME: "socketgate",
      REDIS_TLS: "1",
      REDIS_TLS_CA_FILE: "/etc/socketgate/redis-tls/ca.crt",
      REDIS_TLS_CERT_FILE: "/etc/socketgate/redis-tls/tls.crt",
      REDIS_TLS_KEY_FILE: "/etc/socketgate/redis-tls/tls.key",
      REDIS_OP_TIMEOUT_MS: "1500",
      REDIS_STARTUP_WAIT_MS: "30000",
    });
    const env = container(docs).env;
    expect(env.find((e: any) => e.name === "REDIS_PASSWORD").valueFrom.secretKeyRef).toEqual({ name: "redis-credentials", key: "password", optional: true });
    expect(env.some((e: any) => e.name === "REDIS_SENTINEL_PASSWORD")).toBe(false);
    expect(podSpec(docs).volumes).toContainEqual({
      name: "redis-tls",
      secret: {
        secretName: "redis-ca",
        items: [
          { key: "ca.crt", path: "ca.crt" },
          { key: "tls.crt", path: "tls.crt" },
          { key: "tls.key", path: "tls.key" },
        ],
      },
    });
    expect(container(docs).volumeMounts).toContainEqual({ name: "redis-tls", mountPath: "/etc/socketgate/redis-tls", readOnly: true });
    expect(findOne(docs, "Secret").data!["redis-password"]).toBeUndefined();
  });

  it("sentinel passwords from values land in the chart's Secret; TLS without a CA uses the system CAs", () => {
    const { docs } = renderChart(valueSets.sentinelPasswords);
    const data = findOne(docs, "Secret").data!;
    expect(Buffer.from(data["redis-password"]!, "base64").toString()).toBe("master-pw");
    expect(Buffer.from(data["redis-sentinel-password"]!, "base64").toString()).toBe("sentinel-pw");
    const env = container(docs).env;
    expect(env.find((e: any) => e.name === "REDIS_SENTINEL_PASSWORD").valueFrom.secretKeyRef).toEqual({
      name: "socketgate",
      key: "redis-sentinel-password",
      optional: true,
    });
    const cm = findOne(docs, "ConfigMap", "socketgate").data!;
    expect(cm.REDIS_TLS).toBe("1");
    expect(cm.REDIS_TLS_CA_FILE).toBeUndefined();
  });

  it("embedded mode sets no Redis variable; bad combinations are refused", () => {
    const cm = findOne(renderChart().docs, "ConfigMap", "socketgate").data!;
    expect(Object.keys(cm).filter((k) => k.startsWith("REDIS_"))).toEqual([]);
    expect(container(renderChart().docs).env.map((e: any) => e.name)).not.toContain("REDIS_PASSWORD");
    expect(renderChartError([{ redis: { password: "x" } }])).toContain("need redis.mode");
    expect(renderChartError([{ redis: { mode: "cluster", clusterNodes: ["a:1"], tls: { existingSecret: "ca" } } }])).toContain("redis.tls.enabled is false");
    expect(
      renderChartError([{ redis: { mode: "cluster", clusterNodes: ["a:1"], tls: { enabled: true, existingSecret: "ca", certKey: "tls.crt" } } }]),
    ).toContain("set both");
    expect(renderChartError([{ redis: { mode: "cluster", clusterNodes: ["a:1"], sentinelPassword: "x" } }])).toContain("only applies with redis.mode=sentinel");
  });
});

describe("scrape objects (issue 16)", () => {
  it("PodMonitor scrapes the ops port of the pods with job = the Service name, so rules and dashboards still match", () => {
    const { docs } = renderChart(valueSets.keda);
    const pm = findOne(docs, "PodMonitor").spec;
    expect(pm.selector.matchLabels).toEqual(findOne(docs, "Deployment").spec.selector.matchLabels);
    expect(pm.podMetricsEndpoints[0]).toMatchObject({
      port: "ops",
      path: "/metrics",
      relabelings: [{ action: "replace", targetLabel: "job", replacement: "socketgate" }],
    });
    expect(docs.some((d) => d.kind === "ServiceMonitor")).toBe(false);
    expect(findOne(docs, "PrometheusRule").spec.groups[0].rules[0].expr).toContain('job="socketgate"');
  });

  it("refuses a ServiceMonitor and a PodMonitor together (doubled series)", () => {
    expect(renderChartError([{ metrics: { serviceMonitor: { enabled: true }, podMonitor: { enabled: true } } }])).toContain("not both");
  });

  it("each CRD-dependent object appears only when its value enables it", () => {
    const kindsWith = (v: object) =>
      renderChart([v])
        .docs.map((d) => d.kind)
        .filter((k) => CRD_KINDS.includes(k));
    expect(kindsWith({ metrics: { serviceMonitor: { enabled: true } } })).toEqual(["ServiceMonitor"]);
    expect(kindsWith({ metrics: { podMonitor: { enabled: true } } })).toEqual(["PodMonitor"]);
    expect(kindsWith({ alerts: { enabled: true } })).toEqual(["PrometheusRule"]);
    expect(
      renderChart(valueSets.keda)
        .docs.map((d) => d.kind)
        .filter((k) => CRD_KINDS.includes(k))
        .sort(),
    ).toEqual(["PodMonitor", "PrometheusRule", "ScaledObject"]);
  });
});

describe("pod extension points (issue 16)", () => {
  it("envFrom, extraVolumes, extraVolumeMounts, initContainers, sidecars, podAnnotations and extraEnv reach the pod", () => {
    const { docs } = renderChart(valueSets.extensions);
    const spec = podSpec(docs);
    const c = container(docs);
    expect(c.envFrom).toEqual([{ configMapRef: { name: "socketgate" } }, { secretRef: { name: "otel-credentials" } }]);
    expect(spec.volumes).toContainEqual({ name: "extra-ca", configMap: { name: "corporate-ca" } });
    expect(c.volumeMounts).toContainEqual({ name: "extra-ca", mountPath: "/etc/ssl/corporate", readOnly: true });
    expect(spec.initContainers).toEqual([{ name: "wait", image: "busybox:1.36", command: ["true"] }]);
    expect(spec.containers.map((x: any) => x.name)).toEqual(["gateway", "log-shipper"]);
    expect(findOne(docs, "Deployment").spec.template.metadata.annotations["vault.hashicorp.com/agent-inject"]).toBe("true");
    expect(c.env).toContainEqual({ name: "OTEL_SERVICE_NAME", value: "socketgate" });
  });
});

describe("helm test hook (issue 16)", () => {
  it("is a test-hook Pod running the gateway image's node on the shipped script, against the Service", () => {
    const { docs } = renderChart();
    const pod = findOne(docs, "Pod");
    expect(pod.metadata.annotations!["helm.sh/hook"]).toBe("test");
    const c = pod.spec.containers[0];
    expect(c.image).toBe(container(docs).image);
    expect(c.command).toEqual(["node", "--input-type=module", "-e"]);
    expect(c.args[0].trim()).toBe(readFileSync(join(chartDir, "files/helm-test.mjs"), "utf8").trim());
    expect(c.env).toEqual([{ name: "GATEWAY_URL", value: "http://socketgate.socketgate.svc:80" }]);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(renderChart([{ helmTest: { enabled: false } }]).docs.some((d) => d.kind === "Pod")).toBe(false);
  });
});
