// SPEC.md features an operator or a client relies on that had no test of their own: the backend
// API is off without API_KEYS, LOG_LEVEL filters what is written, the `reason` and `outcome` label
// sets are exactly the ones the README documents, and room:leave really takes a socket out of a room.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, nextEvent, refused, sleep } from "../support/clients.js";
import { startGatewayProcess, TEST_API_KEY, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";
import { signToken } from "../support/tokens.js";

const started: GatewayProcess[] = [];
const start = async (env: Record<string, string | undefined> = {}) => {
  const g = await startGatewayProcess({ env: env as Record<string, string> });
  started.push(g);
  return g;
};
afterAll(async () => {
  closeAll();
  await Promise.all(started.map((g) => g.stop()));
});

/** The values a label takes across every series of a metric. */
const labelValues = (text: string, metric: string, label: string): string[] =>
  [
    ...new Set(
      text
        .split("\n")
        .filter((l) => l.startsWith(`${metric}{`))
        .map((l) => new RegExp(`${label}="([^"]*)"`).exec(l)?.[1] ?? "(none)"),
    ),
  ].sort();

/** A README list like "(reason ∈ a, b, c)" or "outcome ∈ ok, error, ...)": the documented set. */
function documented(label: string): string[] {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  // Values are words, route templates (/v1/presence/:room) or HTTP status codes; the list ends at ";" or ")".
  const m = new RegExp(`${label} ∈\\s+([\\w/:,\\s]+?)[;)]`).exec(readme);
  if (!m) throw new Error(`README documents no "${label} ∈ ..." list`);
  return m[1]!
    .split(/,\s*/)
    .map((s) => s.trim())
    .filter(Boolean)
    .sort();
}

describe("backend API without API_KEYS", () => {
  it("is disabled: every route answers 404 NOT_FOUND in JSON, whatever key is offered", async () => {
    const gw = await start({ API_KEYS: undefined });
    for (const [method, path, body] of [
      ["POST", "/v1/publish", JSON.stringify({ room: "r", event: "e", data: 1 })],
      ["GET", "/v1/presence/r", undefined],
      ["POST", "/v1/disconnect", JSON.stringify({ userId: "u" })],
    ] as const) {
      const res = await fetch(`${gw.url}${path}`, { method, body, headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" } });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: "NOT_FOUND", message: expect.stringContaining("API_KEYS") } });
    }
  });
});

describe("LOG_LEVEL", () => {
  it("writes the lines at or above the level and nothing below it", async () => {
    const debug = await start({ LOG_LEVEL: "debug" });
    // At warn the "socketgate listening" line is not written: wait for readiness instead.
    const warn = await startGatewayProcess({ env: { LOG_LEVEL: "warn" }, expectFailure: true });
    started.push(warn);
    for (const end = Date.now() + 15_000; Date.now() < end; await sleep(100)) {
      const ready = await fetch(`${warn.opsUrl}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (ready === 200) break;
    }
    // The same things happen on both: a refused handshake (debug line) and a normal disconnect (info line).
    for (const gw of [debug, warn]) {
      expect((await refused(client(gw.url, { token: "not-a-jwt" }))).code).toBe("AUTH_INVALID");
      const s = await connected(client(gw.url, { token: await signToken("log-level") }));
      s.close();
    }
    await debug.waitForLog((l) => l.msg === "disconnected" && l.userId === "log-level");
    await sleep(300);
    await Promise.all([debug.stop(), warn.stop()]);
    const levels = (gw: GatewayProcess) => new Set(gw.logs.map((l) => String(l.level)));
    expect(levels(debug)).toEqual(new Set([...levels(debug)].filter((l) => ["debug", "info", "warn", "error"].includes(l))));
    expect(levels(debug).has("debug") && levels(debug).has("info")).toBe(true);
    expect(
      [...levels(warn)].filter((l) => l === "debug" || l === "info" || l === "trace"),
      "lines below warn",
    ).toEqual([]);
  });
});

describe("closed label sets", () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await start();
  });

  it("connection_failures_total{reason} and events_total{outcome} carry exactly the README's values, at 0 from start-up", async () => {
    const text = await scrape(gw.opsUrl);
    expect(labelValues(text, "socketgate_connection_failures_total", "reason")).toEqual(documented("reason"));
    expect(labelValues(text, "socketgate_events_total", "outcome")).toEqual(documented("outcome"));
    expect(documented("outcome")).toEqual(["error", "ok", "rate_limited", "rejected"]);
  });

  it("api_requests_total{route,status} carries exactly the README's routes and statuses, every pair at 0 from start-up", async () => {
    const text = await scrape(gw.opsUrl);
    const routes = documented("route");
    const statuses = documented("status");
    expect(routes).toEqual(["/v1/disconnect", "/v1/presence/:room", "/v1/publish", "other"]);
    expect(labelValues(text, "socketgate_api_requests_total", "route")).toEqual(routes);
    expect(labelValues(text, "socketgate_api_requests_total", "status")).toEqual(statuses);
    for (const route of routes) {
      for (const status of statuses) expect(metricValue(text, "socketgate_api_requests_total", { route, status }), `${route} ${status}`).toBe(0);
      expect(metricValue(text, "socketgate_api_request_duration_seconds_count", { route }), route).toBe(0);
    }
  });
});

describe("room:leave", () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await start({ PRESENCE_GRACE_MS: "100" });
  });

  it("stops room messages and typing to the socket, and other members see the user leave", async () => {
    const stay = await connected(client(gw.url, { token: await signToken("leave-stay") }));
    const go = await connected(client(gw.url, { token: await signToken("leave-go") }));
    for (const s of [stay, go]) expect(await ask(s, "room:join", { room: "leave-room" })).toMatchObject({ ok: true });
    const offline = nextEvent<{ userId: string; status: string }>(stay, "presence", 5000, (p) => p.userId === "leave-go" && p.status === "offline");
    const seenByLeaver: unknown[] = [];
    go.on("message", (m) => seenByLeaver.push(m));
    go.on("typing", (t) => seenByLeaver.push(t));

    expect(await ask(go, "room:leave", { room: "leave-room" })).toMatchObject({ ok: true, room: "leave-room" });
    expect(await offline).toMatchObject({ room: "leave-room", userId: "leave-go", status: "offline" });
    const listed = await ask<{ users: Array<{ userId: string }> }>(stay, "presence:get", { room: "leave-room" });
    expect(listed.users.map((u) => u.userId)).toEqual(["leave-stay"]);

    expect(await ask(stay, "message:send", { room: "leave-room", body: "after the leave" })).toMatchObject({ ok: true });
    expect(await ask(stay, "typing", { room: "leave-room", isTyping: true })).toMatchObject({ ok: true });
    const viaApi = await fetch(`${gw.url}/v1/publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ room: "leave-room", event: "message", data: { body: "api" } }),
    });
    expect(viaApi.status).toBe(200);
    // A round trip on the leaver's connection after those sends: anything addressed to it has arrived.
    await sleep(100);
    expect(await ask(go, "presence:get", { room: "leave-room" })).toMatchObject({ ok: true });
    expect(seenByLeaver).toEqual([]);
    // Leaving a room the socket is not in is harmless and says so.
    expect(await ask(go, "room:leave", { room: "leave-room" })).toMatchObject({ ok: true, joined: false });
  });
});
