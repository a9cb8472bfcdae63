// The `helm test` hook's script (helm/socketgate/files/helm-test.mjs), run the way the hook Pod
// runs it (node --input-type=module -e) against a real gateway: over WebSocket and over polling.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { freePort } from "../support/ports.js";
import { chartDir } from "./lib.js";

const script = readFileSync(join(chartDir, "files/helm-test.mjs"), "utf8");
const run = (url: string, nodeFlags: string[] = []) =>
  spawnSync(process.execPath, [...nodeFlags, "--input-type=module", "-e", script], {
    env: { ...process.env, GATEWAY_URL: url },
    encoding: "utf8",
    timeout: 30_000,
  });
// Node 20 has WebSocket behind a flag; the image's Node 24 has it on by default.
const wsFlag = process.versions.node.startsWith("20.") ? ["--experimental-websocket"] : [];

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await startGatewayProcess();
});
afterAll(async () => {
  await gw.stop();
});

describe("helm test script", () => {
  it("passes over WebSocket: /health OK, CONNECT refused without a token is still a Socket.IO answer", () => {
    const r = run(gw.url, wsFlag);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^OK \/health and Socket\.IO handshake: refused as expected without a token .*AUTH_REQUIRED/);
  });

  it("passes over long-polling when the runtime has no WebSocket", () => {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", `delete globalThis.WebSocket;\n${script}`], {
      env: { ...process.env, GATEWAY_URL: gw.url },
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("OK /health and Socket.IO handshake");
  });

  it("fails when nothing answers", async () => {
    const r = run(`http://127.0.0.1:${await freePort()}`, wsFlag);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^FAIL GET .*\/health/);
  });
});
