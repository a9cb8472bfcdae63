// The production combination, tested rather than assumed: the gateway under Node 24 in a Debian trixie
// root filesystem (glibc 2.41), started as the image and the chart start it, must pick the current uWS
// build natively and serve health, readiness, metrics, Socket.IO over both transports and a room
// message, then drain on SIGTERM and exit 0. Skipped, with the missing piece named, without root or debootstrap.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, nextEvent } from "../support/clients.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";
import { signToken } from "../support/tokens.js";
import {
  CACHE_DIR,
  childrenOf,
  missingPrerequisite,
  NODE_MAJOR,
  prepareProductionRoot,
  productionLaunch,
  removeApp,
  RUN_AS,
  type ProductionRoot,
} from "./production-rootfs.mjs";

const missing = missingPrerequisite();
if (missing) console.warn(`runtime tier skipped: ${missing}`);

describe.skipIf(missing !== undefined)(`gateway in the production root filesystem${missing ? ` (SKIPPED: ${missing})` : ""}`, () => {
  let prod: ProductionRoot;
  let gw: GatewayProcess;
  let startMs = 0;

  beforeAll(async () => {
    const t0 = Date.now();
    prod = prepareProductionRoot((line) => console.log(`runtime: ${line}`));
    const t1 = Date.now();
    gw = await startGatewayProcess({
      launch: productionLaunch(prod),
      // The image's environment: production mode, a real key, no dev shortcuts.
      env: { NODE_ENV: "production", HOME: "/tmp", LOG_LEVEL: "info", DRAIN_DELAY_MS: "1000", DRAIN_WINDOW_MS: "500" },
      timeoutMs: 30_000,
    });
    startMs = Date.now() - t1;
    const total = ((Date.now() - t0) / 1000).toFixed(1);
    const pieces = ["rootfs", "node", "deps"];
    const built = pieces.filter((p) => !prod.cached[p]);
    const kind = built.length === 0 ? "cached" : built.length === pieces.length ? "cold" : `partly cached (built: ${built.join(", ")})`;
    console.log(`runtime: ${kind} preparation + start ${total} s (gateway start ${(startMs / 1000).toFixed(1)} s); cache ${CACHE_DIR}; mirror ${prod.mirror}`);
  }, 20 * 60_000);

  afterAll(async () => {
    closeAll();
    await gw?.stop();
    if (prod) removeApp(prod);
  });

  it(`runs Node ${NODE_MAJOR} on glibc >= 2.38 with the current uWS build, natively, as uid ${RUN_AS.uid}`, async () => {
    const listening = gw.logs.find((l) => l.msg === "socketgate listening")!;
    expect(listening.node).toBe(`v${prod.node.version}`);
    expect(prod.node.version.split(".")[0]).toBe(NODE_MAJOR);
    expect(Number(prod.glibc.split(".")[1])).toBeGreaterThanOrEqual(38);
    expect(listening.uws).toMatchObject({ build: "current", version: "20.57.0", native: true });
    // tini (PID 1 inside) -> node: both unprivileged, as USER 1000:1000 and runAsNonRoot require.
    const tini = childrenOf(gw.child.pid!)[0]!;
    const node = childrenOf(tini)[0]!;
    for (const pid of [tini, node]) {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      expect(status).toMatch(new RegExp(`^Uid:\\s+${RUN_AS.uid}\\s+${RUN_AS.uid}\\s+${RUN_AS.uid}\\s+${RUN_AS.uid}$`, "m"));
      expect(status).toMatch(/^CapEff:\s+0+$/m);
    }
    expect(readFileSync(`/proc/${tini}/cmdline`, "utf8").split("\0")[0]).toBe("/usr/bin/tini");
    // readOnlyRootFilesystem: / read-only, /tmp the only writable mount.
    const mounts = readFileSync(`/proc/${node}/mounts`, "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(" "));
    const options = (target: string) =>
      mounts
        .filter((m) => m[1] === target)
        .at(-1)?.[3]
        ?.split(",");
    expect(options("/")).toContain("ro");
    expect(options("/app")).toContain("ro");
    expect(options("/tmp")).toContain("rw");
  });

  it("answers /health, /readyz and /metrics with uws_native 1 and the current build's info series", async () => {
    const health = await fetch(`${gw.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe("OK");
    expect((await fetch(`${gw.opsUrl}/readyz`)).status).toBe(200);
    const text = await scrape(gw.opsUrl);
    expect(metricValue(text, "socketgate_uws_native")).toBe(1);
    expect(metricValue(text, "socketgate_uws_build_info", { build: "current", version: "20.57.0" })).toBe(1);
    expect(metricValue(text, "socketgate_uws_build_info", { build: "legacy", version: "20.30.0" })).toBe(0);
  });

  it("completes Socket.IO handshakes over WebSocket and over polling and carries a room message between them", async () => {
    const auth = async (sub: string) => ({ token: await signToken(sub, { rooms: ["smoke:*"] }) });
    const ws = await connected(client(gw.url, await auth("smoke-ws"), { transports: ["websocket"] }));
    const poll = await connected(client(gw.url, await auth("smoke-poll"), { transports: ["polling"], upgrade: false }));
    expect(ws.io.engine.transport.name).toBe("websocket");
    expect(poll.io.engine.transport.name).toBe("polling");
    for (const s of [ws, poll]) expect(await ask(s, "room:join", { room: "smoke:1" })).toMatchObject({ ok: true });

    const atPoll = nextEvent<{ room: string; from: string; body: unknown }>(poll, "message");
    expect(await ask(ws, "message:send", { room: "smoke:1", body: { text: "over websocket" } })).toMatchObject({ ok: true });
    expect(await atPoll).toMatchObject({ room: "smoke:1", from: "smoke-ws", body: { text: "over websocket" } });
    const atWs = nextEvent<{ room: string; from: string; body: unknown }>(ws, "message");
    expect(await ask(poll, "message:send", { room: "smoke:1", body: { text: "over polling" } })).toMatchObject({ ok: true });
    expect(await atWs).toMatchObject({ room: "smoke:1", from: "smoke-poll", body: { text: "over polling" } });
  });

  it("drains on SIGTERM (readiness 503, clients told and closed) and exits 0", async () => {
    const s = await connected(client(gw.url, { token: await signToken("smoke-drain") }));
    const disconnected = new Promise<string>((resolve) => s.once("disconnect", resolve));
    gw.signal("SIGTERM");
    await gw.waitForLog((l) => l.msg === "draining: readiness is now 503");
    expect((await fetch(`${gw.opsUrl}/readyz`)).status).toBe(503);
    await disconnected;
    expect(await gw.exited).toBe(0);
  });
  it("a forced stop takes the whole launch down: no gateway is left running inside its namespace", async () => {
    // unshare's --kill-child does not survive setpriv's uid change: killing only the launcher used to leave
    // tini and node running (6 orphaned gateways after one run of this tier).
    const extra = await startGatewayProcess({ launch: productionLaunch(prod), env: { NODE_ENV: "production", HOME: "/tmp" }, timeoutMs: 30_000 });
    const tini = childrenOf(extra.child.pid!)[0]!;
    const node = childrenOf(tini)[0]!;
    expect(tini).toBeGreaterThan(0);
    expect(node).toBeGreaterThan(0);
    await extra.stop();
    const gone = (pid: number) => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    };
    await expect.poll(() => gone(tini) && gone(node), { timeout: 5000 }).toBe(true);
  });
});
