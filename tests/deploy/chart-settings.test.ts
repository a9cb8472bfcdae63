// Every gateway setting (src/config.ts, as the README configuration table lists it) reaches the pod
// from a named, typed chart value set to a non-default value — or is excluded on purpose, with a
// reason. The rendered environment must load with the gateway's own config parser.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { EXCLUDED, ROUTES, chartValuesMarkdown, gatewaySettings, mountedFile, podEnvironment, valueAt } from "./chart-settings.js";
import { findOne, renderChart, renderChartError, repoRoot } from "./lib.js";
import { valueSets } from "./value-sets.js";

const settings = gatewaySettings();
const defaults = new Map(settings.map((s) => [s.name, s.def]));
// Left out of allSettings only because another mode of the same value excludes them.
const OTHER_MODES = ["JWT_PUBLIC_KEY_FILE", "JWT_JWKS_FILE", "REDIS_URL", "REDIS_CLUSTER_NODES"];

describe("chart coverage of the gateway's settings", () => {
  it("reads the settings from the configuration table (not an empty or stale list)", () => {
    expect(settings.length).toBeGreaterThan(60);
    expect(settings.map((s) => s.name)).toEqual(expect.arrayContaining(["PORT", "MAX_BODY_BYTES", "SOCKETGATE_TEST_FAULTS"]));
  });

  it("every setting has a route through a named chart value or an exclusion with a reason, never both", () => {
    const names = settings.map((s) => s.name);
    const uncovered = names.filter((n) => !(n in ROUTES) && !(n in EXCLUDED));
    expect(uncovered, "add a chart value (values.yaml, values.schema.json, templates/configmap.yaml) and a route in chart-settings.ts").toEqual([]);
    expect(names.filter((n) => n in ROUTES && n in EXCLUDED)).toEqual([]);
    const stale = [...Object.keys(ROUTES), ...Object.keys(EXCLUDED)].filter((n) => !names.includes(n));
    expect(stale, "routes or exclusions for settings the gateway no longer has").toEqual([]);
    for (const why of Object.values(EXCLUDED)) expect(why.length).toBeGreaterThan(20);
  });

  describe.each(Object.keys(ROUTES))("%s", (name) => {
    const route = ROUTES[name]!;
    const { docs } = renderChart([...(route.base ?? []), valueAt(route.value, route.set)]);
    const env = podEnvironment(docs);

    it(`reaches the pod from ${route.value} with a value other than the gateway's default`, () => {
      expect(env[name], `${route.value}=${JSON.stringify(route.set)} must render ${name}`).toBe(route.expect);
      expect(route.expect).not.toBe(defaults.get(name));
    });

    it("yields an environment the gateway's config accepts", () => {
      expect(() => loadConfig(env)).not.toThrow();
    });

    if (name.endsWith("_FILE")) {
      it("points at a file of a volume mounted into the gateway container", () => {
        expect(mountedFile(docs, env[name]!)).toBe(true);
      });
    }
  });

  it("is not rendered at all while its value is null: the gateway's own default applies", () => {
    const rendered = podEnvironment(renderChart([{ redis: { mode: "sentinel", sentinels: ["s-0:26379"] } }]).docs);
    const chartDefaults = new Set([
      ...["PORT", "OPS_PORT", "MAX_CONNECTIONS", "MAX_PAYLOAD_BYTES", "PING_INTERVAL_MS", "PING_TIMEOUT_MS", "CONNECT_TIMEOUT_MS"],
      ...["RATE_LIMIT_EVENTS_PER_S", "RATE_LIMIT_BURST", "PRESENCE_GRACE_MS", "TRUST_PROXY_HOPS", "LOG_LEVEL", "DRAIN_DELAY_MS", "DRAIN_WINDOW_MS"],
      ...["REBALANCE", "REBALANCE_TOLERANCE", "REBALANCE_AFTER_MS", "REBALANCE_MAX_PER_S", "REDIS_OP_TIMEOUT_MS", "REDIS_STARTUP_WAIT_MS"],
      ...["REDIS_SENTINELS", "REDIS_SENTINEL_NAME", "JWT_SECRET"],
    ]);
    expect(Object.keys(rendered).filter((n) => !chartDefaults.has(n))).toEqual([]);
    // Setting a value that predates the rule to null hands it to the gateway too.
    expect(podEnvironment(renderChart([{ gateway: { logLevel: null } }]).docs).LOG_LEVEL).toBeUndefined();
  });

  it("allSettings sets every routed setting at once, as its route does, and the gateway accepts the result", () => {
    const env = podEnvironment(renderChart(valueSets.allSettings).docs);
    for (const [name, route] of Object.entries(ROUTES)) {
      if (OTHER_MODES.includes(name)) expect(env[name], name).toBeUndefined();
      else expect(env[name], name).toBe(route.expect);
    }
    const config = loadConfig(env);
    expect(config.redis).toMatchObject({ kind: "sentinel", name: "primary", username: "socketgate", password: "master-pw", sentinelPassword: "sentinel-pw" });
    expect([config.maxBodyBytes, config.historyMaxLength, config.slowConsumerGraceMs, config.kickTtlMs, config.drainTimeoutMs]).toEqual([
      131072, 0, 0, 604800000, 60000,
    ]);
  });

  it("every value set of the chart tests yields an environment the gateway's config accepts", () => {
    for (const [set, values] of Object.entries(valueSets)) {
      const env = podEnvironment(renderChart(values).docs);
      expect(() => loadConfig(env), set).not.toThrow();
    }
  });
});

describe("values.schema.json bounds of the named values", () => {
  const schema = JSON.parse(readFileSync(join(repoRoot, "helm/socketgate/values.schema.json"), "utf8"));
  const resolve = (node: any): any =>
    node?.$ref
      ? resolve(
          node.$ref
            .split("/")
            .slice(1)
            .reduce((n: any, k: string) => n[k], schema),
        )
      : node;
  const nodeAt = (path: string) => path.split(".").reduce((n: any, key: string) => resolve(n?.properties?.[key]), schema);
  // Cross-setting rules of the gateway (a burst at least the rate): bounds are tried with the companion at its widest.
  const companions: Record<string, Record<string, string>> = {
    RATE_LIMIT_EVENTS_PER_S: { RATE_LIMIT_BURST: "1000000" },
    CONN_RATE_PER_ADDRESS_PER_S: { CONN_RATE_BURST: "1000000" },
    RATE_LIMIT_BURST: { RATE_LIMIT_EVENTS_PER_S: "1" },
  };
  const numeric = Object.entries(ROUTES).filter(([, r]) => typeof r.set === "number");

  it.each(numeric.map(([name, r]) => [name, r.value]))("%s (%s): the schema bounds it on both sides and the gateway accepts both bounds", (name, value) => {
    const node = nodeAt(value);
    const [min, max] = [node?.minimum, node?.maximum];
    expect([typeof min, typeof max], `${value} needs a minimum and a maximum in values.schema.json`).toEqual(["number", "number"]);
    for (const bound of [min, max]) {
      expect(() => loadConfig({ ...companions[name], [name]: String(bound) }), `${name}=${bound} is allowed by the schema`).not.toThrow();
    }
  });
});

describe("settings left out on purpose", () => {
  it("are rendered by no value set", () => {
    for (const [set, values] of Object.entries(valueSets)) {
      const env = podEnvironment(renderChart(values).docs);
      expect(
        Object.keys(env).filter((n) => n in EXCLUDED),
        set,
      ).toEqual([]);
    }
  });

  it("are refused in gateway.extraConfig and gateway.extraEnv", () => {
    for (const name of Object.keys(EXCLUDED)) {
      expect(renderChartError([{ gateway: { extraConfig: { [name]: "1" } } }])).toContain(`${name} is deliberately not settable through the chart`);
      expect(renderChartError([{ gateway: { extraEnv: [{ name, value: "1" }] } }])).toContain(`${name} is deliberately not settable through the chart`);
    }
  });
});

describe("chart value checks (values the gateway would refuse at start-up)", () => {
  it("extraConfig may not set what a named value already sets", () => {
    expect(renderChartError([{ limits: { maxBodyBytes: 1024 }, gateway: { extraConfig: { MAX_BODY_BYTES: "2048" } } }])).toContain(
      "the chart already sets MAX_BODY_BYTES from a named value",
    );
    // A named value left null is not "set": extraConfig may still carry it (installs that used it before keep working).
    const env = podEnvironment(renderChart([{ gateway: { extraConfig: { MAX_BODY_BYTES: "2048" } } }]).docs);
    expect(env.MAX_BODY_BYTES).toBe("2048");
  });

  it("redis.ackReplicas needs Redis; drain.timeoutMs must exceed the drain it bounds", () => {
    expect(renderChartError([{ redis: { ackReplicas: 1 } }])).toContain("redis.ackReplicas needs redis.mode");
    expect(renderChartError([{ drain: { timeoutMs: 25000 } }])).toContain("drain.timeoutMs (25000) must exceed");
    // 0 is the gateway's "derive it" and is passed through.
    expect(podEnvironment(renderChart([{ drain: { timeoutMs: 0 } }]).docs).DRAIN_TIMEOUT_MS).toBe("0");
  });

  it("an explicit drain.timeoutMs sets terminationGracePeriodSeconds, so the gateway's deadline still comes before SIGKILL", () => {
    const grace = (v: object[]) => findOne(renderChart(v).docs, "Deployment").spec.template.spec.terminationGracePeriodSeconds;
    expect(grace([])).toBe(5 + 25 + 10);
    expect(grace([{ drain: { timeoutMs: 60000 } }])).toBe(5 + 60 + 10);
  });
});

describe("docs/operations.md", () => {
  it("lists every chart value and the variable it sets (generated from the routes)", () => {
    const doc = readFileSync(join(repoRoot, "docs/operations.md"), "utf8");
    const begin = doc.indexOf("<!-- chart-values:begin -->");
    const end = doc.indexOf("<!-- chart-values:end -->") + "<!-- chart-values:end -->".length;
    const expected = chartValuesMarkdown();
    const dir = join(repoRoot, "tests/.tmp");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "chart-values-table.md"), expected + "\n");
    expect(begin, "docs/operations.md needs the chart-values markers").toBeGreaterThanOrEqual(0);
    expect(doc.slice(begin, end), "copy tests/.tmp/chart-values-table.md into docs/operations.md").toBe(expected);
  });
});
