// Start-up as an operator sees it: the uWS native check, config errors, --help, dev mode.
import { afterEach, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected } from "../support/clients.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";

const started: GatewayProcess[] = [];
afterEach(async () => {
  closeAll();
  await Promise.all(started.splice(0).map((g) => g.stop()));
});
const start = async (...args: Parameters<typeof startGatewayProcess>) => {
  const g = await startGatewayProcess(...args);
  started.push(g);
  return g;
};

describe("uWebSockets.js native build check", () => {
  it("refuses to start on the JavaScript fallback, naming the way out", async () => {
    // UWS_USE_FALLBACK makes the package load its JavaScript server, as a missing binary would.
    const g = await start({ env: { UWS_USE_FALLBACK: "1" }, expectFailure: true });
    expect(await g.exited).toBe(2);
    expect(g.stderr.join("")).toMatch(/native build unavailable.*ALLOW_UWS_FALLBACK=1/s);
  });

  it("starts on the fallback only when allowed, logs it loudly and exports uws_native 0", async () => {
    const g = await start({ env: { UWS_USE_FALLBACK: "1", ALLOW_UWS_FALLBACK: "1" } });
    expect(g.logs.find((l) => /SLOW uWebSockets\.js JAVASCRIPT FALLBACK/.test(l.msg))?.level).toBe("error");
    expect(metricValue(await scrape(g.opsUrl), "socketgate_uws_native")).toBe(0);
  });

  it("names the native build it picked in the start-up log and in socketgate_uws_build_info", async () => {
    const g = await start();
    const listening = g.logs.find((l) => l.msg === "socketgate listening")!;
    const uws = listening.uws as { build: string; version: string; native: boolean };
    expect(uws.native).toBe(true);
    expect(listening.node).toBe(process.version);
    const text = await scrape(g.opsUrl);
    expect(metricValue(text, "socketgate_uws_native")).toBe(1);
    // Both declared builds have a series; only the one in use reads 1 (which one depends on this machine's glibc).
    const other = uws.build === "current" ? { build: "legacy", version: "20.30.0" } : { build: "current", version: "20.57.0" };
    expect(metricValue(text, "socketgate_uws_build_info", { build: uws.build, version: uws.version })).toBe(1);
    expect(metricValue(text, "socketgate_uws_build_info", other)).toBe(0);
  });
});

describe("configuration errors", () => {
  it("stops with exit 2 and names the variable, the value and what is allowed", async () => {
    const g = await start({ env: { MAX_CONNECTIONS: "lots" }, expectFailure: true });
    expect(await g.exited).toBe(2);
    expect(g.stderr.join("")).toContain('MAX_CONNECTIONS (--max-connections) = "lots": expected an integer from 1 to 1000000');
  });

  it("refuses unknown CLI flags and bad flag values", async () => {
    const unknown = await start({ args: ["--max-conections", "5"], expectFailure: true });
    expect(await unknown.exited).toBe(2);
    expect(unknown.stderr.join("")).toContain('unknown flag "--max-conections"');
    const bad = await start({ args: ["--port=99999"], expectFailure: true });
    expect(await bad.exited).toBe(2);
    expect(bad.stderr.join("")).toContain("PORT (--port)");
  });

  it("refuses production without key material", async () => {
    const g = await start({ env: { NODE_ENV: "production", JWT_SECRET: undefined }, expectFailure: true });
    expect(await g.exited).toBe(2);
    expect(g.stderr.join("")).toContain("one is required when NODE_ENV=production");
  });

  it("prints --help and exits 0", async () => {
    const g = await start({ args: ["--help"], expectFailure: true });
    expect(await g.exited).toBe(0);
  });
});

describe("dev mode", () => {
  it("starts without key material outside production and logs a token that works", async () => {
    const g = await start({ env: { NODE_ENV: "development", JWT_SECRET: undefined } });
    const line = g.logs.find((l) => typeof l.devToken === "string");
    expect(line?.level).toBe("warn");
    const s = await connected(client(g.url, { token: line!.devToken }));
    expect(await ask(s, "room:join", { room: "lobby" })).toMatchObject({ ok: true, users: [{ userId: "dev-user", devices: 1 }] });
  });
});
