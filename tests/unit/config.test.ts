import { describe, expect, it } from "vitest";
import { ConfigError, flagOf, helpText, loadConfig, parseFlags } from "../../src/config.js";

const errorOf = (env: Record<string, string>, argv: string[] = []): string => {
  try {
    loadConfig(env, argv);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
};

describe("config", () => {
  it("has the seed defaults of SPEC.md", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 3000,
      opsPort: 9090,
      maxConnections: 1000,
      maxPayloadBytes: 1048576,
      pingIntervalMs: 25000,
      pingTimeoutMs: 20000,
      connectTimeoutMs: 60000,
      rateLimitEventsPerS: 50,
      rateLimitBurst: 100,
      presenceGraceMs: 2000,
      drainDelayMs: 3000,
      drainWindowMs: 20000,
      trustProxyHops: 0,
      logLevel: "info",
      corsOrigins: [],
      apiKeys: [],
    });
    expect(c.redis).toBeUndefined();
    expect(c.drainTimeoutMs).toBe(30000);
    expect(loadConfig({ PRESENCE_GRACE_MS: "10000" }).drainTimeoutMs).toBe(38000);
    expect(loadConfig({ DRAIN_TIMEOUT_MS: "7000" }).drainTimeoutMs).toBe(7000);
  });

  it("reads every variable and the matching flag, flags winning", () => {
    const c = loadConfig({ PORT: "4000", MAX_CONNECTIONS: "5" }, [
      "--port",
      "4001",
      "--max-connections=7",
      "--cors-origins",
      "https://a.example,https://b.example",
    ]);
    expect(c.port).toBe(4001);
    expect(c.maxConnections).toBe(7);
    expect(c.corsOrigins).toEqual(["https://a.example", "https://b.example"]);
  });

  it("names the variable, the flag, the value and what is allowed", () => {
    const msg = errorOf({ PORT: "abc" });
    expect(msg).toContain("PORT (--port)");
    expect(msg).toContain('"abc"');
    expect(msg).toContain("an integer from 0 to 65535");
    expect(errorOf({ MAX_CONNECTIONS: "0" })).toMatch(/MAX_CONNECTIONS \(--max-connections\) = "0": expected an integer from 1 to/);
    expect(errorOf({ LOG_LEVEL: "loud" })).toMatch(/LOG_LEVEL .*"loud"/);
    expect(errorOf({ CORS_ORIGINS: "javascript:alert(1)" })).toMatch(/CORS_ORIGINS .*expected .*origin/);
    expect(errorOf({ REDIS_URL: "http://x" })).toMatch(/REDIS_URL .*redis:\/\//);
    expect(errorOf({ ALLOW_UWS_FALLBACK: "maybe" })).toMatch(/ALLOW_UWS_FALLBACK .*one of 1, 0, true, false/);
  });

  it("rebalancing: on by default with the SPEC numbers, decimals for the tolerance, clear errors", () => {
    expect(loadConfig({}).rebalance).toEqual({ enabled: true, tolerance: 0.2, afterMs: 10_000, maxPerS: 20 });
    expect(loadConfig({ REBALANCE: "0", REBALANCE_TOLERANCE: "0.35" }, ["--rebalance-after-ms", "2000", "--rebalance-max-per-s=50"]).rebalance).toEqual({
      enabled: false,
      tolerance: 0.35,
      afterMs: 2000,
      maxPerS: 50,
    });
    expect(errorOf({ REBALANCE_TOLERANCE: "20%" })).toMatch(/REBALANCE_TOLERANCE \(--rebalance-tolerance\) = "20%": expected a number from 0.01 to 10/);
    expect(errorOf({ REBALANCE_TOLERANCE: "0" })).toMatch(/REBALANCE_TOLERANCE .*a number from 0.01 to 10/);
    expect(errorOf({ REBALANCE_MAX_PER_S: "0" })).toMatch(/REBALANCE_MAX_PER_S .*an integer from 1 to 10000/);
  });

  it("lists every problem at once", () => {
    const msg = errorOf({ PORT: "-1", OPS_PORT: "x", PING_INTERVAL_MS: "1.5" });
    expect(msg).toContain("PORT (--port)");
    expect(msg).toContain("OPS_PORT (--ops-port)");
    expect(msg).toContain("PING_INTERVAL_MS (--ping-interval-ms)");
  });

  it("never echoes secrets in errors", () => {
    const msg = errorOf({ JWT_SECRET: "short-secret", API_KEYS: "k" });
    expect(msg).toContain("JWT_SECRET (--jwt-secret) = (hidden)");
    expect(msg).not.toContain("short-secret");
    expect(msg).toContain("API_KEYS (--api-keys) = (hidden)");
  });

  it("requires key material in production, and only one source", () => {
    expect(errorOf({ NODE_ENV: "production" })).toContain("one is required when NODE_ENV=production");
    expect(errorOf({ JWT_SECRET: "x".repeat(40), JWT_JWKS_FILE: "/tmp/j.json" })).toContain("set exactly one");
    expect(loadConfig({ NODE_ENV: "production", JWT_SECRET: "x".repeat(40) }).jwt.secret).toHaveLength(40);
  });

  it("parses the three ways to reach Redis and refuses mixing them", () => {
    expect(loadConfig({ REDIS_URL: "redis://127.0.0.1:6379/0" }).redis).toEqual({ kind: "standalone", url: "redis://127.0.0.1:6379/0" });
    expect(loadConfig({ REDIS_SENTINELS: "10.0.0.1:26379, 10.0.0.2:26379", REDIS_SENTINEL_NAME: "mymaster" }).redis).toEqual({
      kind: "sentinel",
      name: "mymaster",
      sentinels: [
        { host: "10.0.0.1", port: 26379 },
        { host: "10.0.0.2", port: 26379 },
      ],
    });
    expect(loadConfig({ REDIS_CLUSTER_NODES: "a:7000,b:7001" }).redis).toMatchObject({
      kind: "cluster",
      nodes: [
        { host: "a", port: 7000 },
        { host: "b", port: 7001 },
      ],
    });
    expect(errorOf({ REDIS_SENTINELS: "a:1" })).toContain("REDIS_SENTINEL_NAME");
    expect(errorOf({ REDIS_URL: "redis://a", REDIS_CLUSTER_NODES: "a:1" })).toContain("set only one way to reach Redis");
    expect(errorOf({ REDIS_CLUSTER_NODES: "nohost" })).toMatch(/REDIS_CLUSTER_NODES .*host:port/);
  });

  it("refuses inconsistent combinations", () => {
    expect(errorOf({ PORT: "5000", OPS_PORT: "5000" })).toContain("PORT and OPS_PORT must differ");
    expect(errorOf({ RATE_LIMIT_EVENTS_PER_S: "100", RATE_LIMIT_BURST: "10" })).toContain("RATE_LIMIT_BURST (10) must be at least");
  });

  it("refuses unknown and incomplete flags, and hostile values", () => {
    expect(() => parseFlags(["--no-such-flag"])).toThrow(/unknown flag "--no-such-flag"/);
    expect(() => parseFlags(["--port"])).toThrow(/--port needs a value/);
    expect(parseFlags(["--allow-uws-fallback"])).toEqual({ ALLOW_UWS_FALLBACK: "1" });
    expect(errorOf({ PORT: "9".repeat(5000) })).toMatch(/PORT .*\.\.\."/);
    expect(errorOf({ MAX_PAYLOAD_BYTES: "1e9" })).toContain("MAX_PAYLOAD_BYTES");
    expect(errorOf({ TRUST_PROXY_HOPS: "0x10" })).toContain("TRUST_PROXY_HOPS");
  });

  it("has a working flag for every setting: --name value and --name=value set it, and a flag wins over its variable", () => {
    // Every row of --help: "  --flag   NAME   default   meaning".
    const rows = helpText()
      .split("\n")
      .map((l) => /^\s+(--[a-z0-9-]+)\s+([A-Z0-9_]+)\s+(\S+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null);
    expect(rows.length).toBeGreaterThan(40);
    for (const [, flag, name, def] of rows) {
      expect(flag, name).toBe(flagOf(name!));
      expect(parseFlags([flag!, "v"]), flag).toEqual({ [name!]: "v" });
      expect(parseFlags([`${flag}=v`]), flag).toEqual({ [name!]: "v" });
      // Its default, given as a flag, gives the same config as nothing at all and as the variable.
      if (def !== "(unset)") {
        expect(loadConfig({}, [flag!, def!]), flag).toEqual(loadConfig({}));
        expect(loadConfig({ [name!]: def }), name).toEqual(loadConfig({}));
      }
    }
    expect(loadConfig({ PORT: "4000", LOG_LEVEL: "debug" }, ["--port", "4001", "--log-level=warn"])).toMatchObject({ port: 4001, logLevel: "warn" });
  });

  it("documents every setting in --help", () => {
    const help = helpText();
    for (const name of [
      "PORT",
      "OPS_PORT",
      "JWT_SECRET",
      "JWT_PUBLIC_KEY_FILE",
      "JWT_JWKS_FILE",
      "API_KEYS",
      "REDIS_URL",
      "REDIS_SENTINELS",
      "REDIS_SENTINEL_NAME",
      "REDIS_CLUSTER_NODES",
      "MAX_CONNECTIONS",
      "MAX_PAYLOAD_BYTES",
      "PING_INTERVAL_MS",
      "PING_TIMEOUT_MS",
      "CONNECT_TIMEOUT_MS",
      "RATE_LIMIT_EVENTS_PER_S",
      "RATE_LIMIT_BURST",
      "PRESENCE_GRACE_MS",
      "DRAIN_DELAY_MS",
      "DRAIN_WINDOW_MS",
      "CORS_ORIGINS",
      "TRUST_PROXY_HOPS",
      "LOG_LEVEL",
    ]) {
      expect(help).toContain(name);
      expect(help).toContain(flagOf(name));
    }
  });
});

describe("managed Redis settings (issue 16)", () => {
  it("carry credentials and TLS into every mode; rediss:// turns TLS on", () => {
    expect(loadConfig({ REDIS_URL: "rediss://r:6380", REDIS_USERNAME: "app", REDIS_PASSWORD: "pw" }).redis).toEqual({
      kind: "standalone",
      url: "rediss://r:6380",
      username: "app",
      password: "pw",
      tls: {},
    });
    expect(
      loadConfig({
        REDIS_SENTINELS: "s:26379",
        REDIS_SENTINEL_NAME: "m",
        REDIS_PASSWORD: "pw",
        REDIS_SENTINEL_PASSWORD: "spw",
        REDIS_TLS: "1",
        REDIS_TLS_CA_FILE: "/ca.pem",
      }).redis,
    ).toMatchObject({ kind: "sentinel", password: "pw", sentinelPassword: "spw", tls: { caFile: "/ca.pem" } });
    expect(loadConfig({ REDIS_CLUSTER_NODES: "a:7000", REDIS_PASSWORD: "pw", REDIS_TLS: "true" }).redis).toMatchObject({
      kind: "cluster",
      password: "pw",
      tls: {},
    });
    expect(loadConfig({ REDIS_URL: "redis://r:6379" }).redis).not.toHaveProperty("tls");
  });

  it("make the operation deadline and the start-up wait settings with today's defaults", () => {
    expect(loadConfig({})).toMatchObject({ redisOpTimeoutMs: 2500, redisStartupWaitMs: 10000 });
    expect(loadConfig({ REDIS_OP_TIMEOUT_MS: "800", REDIS_STARTUP_WAIT_MS: "0" })).toMatchObject({ redisOpTimeoutMs: 800, redisStartupWaitMs: 0 });
    expect(errorOf({ REDIS_OP_TIMEOUT_MS: "5" })).toContain("REDIS_OP_TIMEOUT_MS");
  });

  it("refuse combinations that would silently do nothing or go plaintext", () => {
    expect(errorOf({ REDIS_PASSWORD: "pw" })).toContain("embedded mode has no Redis");
    expect(errorOf({ REDIS_URL: "redis://r:1", REDIS_TLS_CA_FILE: "/ca.pem" })).toContain("TLS is off");
    expect(errorOf({ REDIS_URL: "rediss://r:1", REDIS_TLS_CERT_FILE: "/c.pem" })).toContain("REDIS_TLS_KEY_FILE");
    expect(errorOf({ REDIS_URL: "redis://r:1", REDIS_SENTINEL_PASSWORD: "x" })).toContain("only applies with REDIS_SENTINELS");
  });

  it("never print a Redis password in an error", () => {
    expect(errorOf({ REDIS_URL: "redis://r:1", REDIS_PASSWORD: "p".repeat(5000) })).not.toContain("ppppp");
  });
});
