// /metrics on the ops port of a real gateway process: exact values move as they should, and the
// label sets stay closed whatever clients send.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, refused, sleep, type Client } from "../support/clients.js";
import { startGatewayProcess, TEST_API_KEY, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";
import { signToken } from "../support/tokens.js";
import { waitFor } from "../support/redis-harness.js";

const m = async (gw: GatewayProcess, name: string, labels: Record<string, string> = {}) => metricValue(await scrape(gw.opsUrl), name, labels) ?? Number.NaN;

/** Polls until the metric equals `want` (values move asynchronously after a disconnect; deadline 10 s), then returns the last value read. */
async function settle(gw: GatewayProcess, name: string, labels: Record<string, string>, want: number): Promise<number> {
  let v = Number.NaN;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50)) {
    v = await m(gw, name, labels);
    if (v === want) return v;
  }
  return v;
}

async function connect(gw: GatewayProcess, user: string, extra: Record<string, unknown> = {}): Promise<Client> {
  return connected(client(gw.url, { token: await signToken(user, { rooms: ["*"] }), ...extra }));
}

/** Reads the metric until two reads 100 ms apart agree (deadline 10 s), and returns that value. */
async function steady(gw: GatewayProcess, name: string): Promise<number> {
  let last = await m(gw, name);
  return waitFor(`${name} to stop moving`, async () => {
    await sleep(100);
    const v = await m(gw, name);
    const same = v === last;
    last = v;
    return same && v;
  });
}

/** Series names with their label sets, for cardinality checks. */
function seriesOf(text: string, prefix: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith(prefix))
    .map((l) => l.slice(0, l.lastIndexOf(" ")));
}

describe("metrics: connections and refusals", () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({ env: { MAX_CONNECTIONS: "3" } });
  });
  afterAll(async () => {
    closeAll();
    await gw?.stop();
  });

  it("every SPEC family is exposed, labelled series exist at 0 before any traffic", async () => {
    const text = await scrape(gw.opsUrl);
    for (const name of [
      "socketgate_connections",
      "socketgate_connections_max",
      "socketgate_connection_attempts_total",
      "socketgate_connection_failures_total",
      "socketgate_events_total",
      "socketgate_event_duration_seconds_bucket",
      "socketgate_handler_errors_total",
      "socketgate_messages_delivered_total",
      "socketgate_slow_consumer_disconnects_total",
      "socketgate_token_expired_disconnects_total",
      "socketgate_rebalance_disconnects_total",
      "socketgate_redis_up",
      "socketgate_fanout_healthy",
      "socketgate_fanout_interruptions_total",
      "socketgate_draining",
      "socketgate_memory_limit_bytes",
      "socketgate_uws_native",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_p99_seconds",
      "nodejs_eventloop_lag_p50_seconds",
    ])
      expect(text, name).toMatch(new RegExp(`^${name}[{ ]`, "m"));
    expect(metricValue(text, "socketgate_connections_max")).toBe(3);
    expect(metricValue(text, "socketgate_uws_native")).toBe(1);
    expect(metricValue(text, "socketgate_redis_up")).toBe(1);
    expect(metricValue(text, "socketgate_fanout_healthy")).toBe(1);
    expect(metricValue(text, "socketgate_fanout_interruptions_total")).toBe(0);
    expect(metricValue(text, "socketgate_draining")).toBe(0);
    expect(metricValue(text, "socketgate_memory_limit_bytes")).toBeGreaterThanOrEqual(0);
    expect(metricValue(text, "socketgate_connections", { transport: "websocket" })).toBe(0);
    expect(metricValue(text, "socketgate_connections", { transport: "polling" })).toBe(0);
    expect(metricValue(text, "socketgate_connection_failures_total", { reason: "capacity" })).toBe(0);
    expect(metricValue(text, "socketgate_events_total", { event: "message:send", outcome: "ok" })).toBe(0);
    expect(metricValue(text, "socketgate_events_total", { event: "unknown", outcome: "rejected" })).toBe(0);
    expect(metricValue(text, "socketgate_handler_errors_total", { event: "room:join" })).toBe(0);
    expect(metricValue(text, "socketgate_event_duration_seconds_bucket", { event: "presence:get", le: "0.0005" })).toBe(0);
  });

  it("three sockets -> connections 3; a fourth is refused for capacity: failures{capacity} +1, attempts +4", async () => {
    const attempts0 = await m(gw, "socketgate_connection_attempts_total");
    const capacity0 = await m(gw, "socketgate_connection_failures_total", { reason: "capacity" });
    const sockets = [await connect(gw, "u1"), await connect(gw, "u2"), await connect(gw, "u3")];
    expect(await m(gw, "socketgate_connections", { transport: "websocket" })).toBe(3);
    expect(await m(gw, "socketgate_connections", { transport: "polling" })).toBe(0);

    // The fourth Engine.IO handshake is refused at the transport (HTTP 503), which socket.io-client retries.
    const fourth = await fetch(`${gw.url}/socket.io/?EIO=4&transport=polling`);
    expect(fourth.status).toBe(503);
    expect(await fourth.json()).toMatchObject({ code: "OVER_CAPACITY" });
    expect(await m(gw, "socketgate_connection_failures_total", { reason: "capacity" })).toBe(capacity0 + 1);
    expect(await m(gw, "socketgate_connection_attempts_total")).toBe(attempts0 + 4);
    expect(await m(gw, "socketgate_connections", { transport: "websocket" })).toBe(3);

    for (const s of sockets) s.close();
    expect(await settle(gw, "socketgate_connections", { transport: "websocket" }, 0)).toBe(0);
  });

  it("a bad token counts as auth_invalid, a missing one as auth_required", async () => {
    const invalid0 = await m(gw, "socketgate_connection_failures_total", { reason: "auth_invalid" });
    const required0 = await m(gw, "socketgate_connection_failures_total", { reason: "auth_required" });
    expect((await refused(client(gw.url, { token: "not-a-jwt" }))).code).toBe("AUTH_INVALID");
    expect((await refused(client(gw.url, {}))).code).toBe("AUTH_REQUIRED");
    expect(await m(gw, "socketgate_connection_failures_total", { reason: "auth_invalid" })).toBe(invalid0 + 1);
    expect(await m(gw, "socketgate_connection_failures_total", { reason: "auth_required" })).toBe(required0 + 1);
  });

  it("a polling socket counts under transport=polling, and moves to websocket when it upgrades", async () => {
    const s = await connected(client(gw.url, { token: await signToken("poller") }, { transports: ["polling"] }));
    expect(await m(gw, "socketgate_connections", { transport: "polling" })).toBe(1);
    s.close();
    expect(await settle(gw, "socketgate_connections", { transport: "polling" }, 0)).toBe(0);
    const up = await connected(client(gw.url, { token: await signToken("upgrader") }, { transports: ["polling", "websocket"] }));
    for (let i = 0; i < 50 && up.io.engine.transport.name !== "websocket"; i++) await sleep(20);
    expect(up.io.engine.transport.name).toBe("websocket");
    expect(await settle(gw, "socketgate_connections", { transport: "websocket" }, 1)).toBe(1);
    expect(await m(gw, "socketgate_connections", { transport: "polling" })).toBe(0);
    up.close();
    expect(await settle(gw, "socketgate_connections", { transport: "websocket" }, 0)).toBe(0);
  });
});

describe("metrics: events, handler errors, latency buckets, deliveries, cardinality", () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({
      env: { SOCKETGATE_TEST_FAULTS: "1", RATE_LIMIT_EVENTS_PER_S: "5000", RATE_LIMIT_BURST: "5000", MAX_ROOMS_PER_SOCKET: "2000" },
    });
  });
  afterEach(() => closeAll());
  afterAll(async () => {
    await gw?.stop();
  });

  it("events_total by event and outcome: ok, rejected (schema), rejected (unknown event)", async () => {
    const s = await connect(gw, "ev");
    const ok0 = await m(gw, "socketgate_events_total", { event: "room:join", outcome: "ok" });
    const bad0 = await m(gw, "socketgate_events_total", { event: "room:join", outcome: "rejected" });
    const unk0 = await m(gw, "socketgate_events_total", { event: "unknown", outcome: "rejected" });
    const count0 = await m(gw, "socketgate_event_duration_seconds_count", { event: "room:join" });
    expect((await ask(s, "room:join", { room: "r1" })).ok).toBe(true);
    expect((await ask(s, "room:join", { room: 42 })).ok).toBe(false);
    expect((await ask(s, "no:such-event", {})).ok).toBe(false);
    expect(await m(gw, "socketgate_events_total", { event: "room:join", outcome: "ok" })).toBe(ok0 + 1);
    expect(await m(gw, "socketgate_events_total", { event: "room:join", outcome: "rejected" })).toBe(bad0 + 1);
    expect(await m(gw, "socketgate_events_total", { event: "unknown", outcome: "rejected" })).toBe(unk0 + 1);
    expect(await m(gw, "socketgate_event_duration_seconds_count", { event: "room:join" })).toBe(count0 + 2);
  });

  it("a throwing handler and a rejecting one: handler_errors +1 each, outcome error, the socket carries on", async () => {
    const s = await connect(gw, "thrower");
    const errs0 = await m(gw, "socketgate_handler_errors_total", { event: "unknown" });
    const out0 = await m(gw, "socketgate_events_total", { event: "unknown", outcome: "error" });
    const thrown = await ask<{ ok: boolean; error: { code: string } }>(s, "test:throw", {});
    expect(thrown).toMatchObject({ ok: false, error: { code: "INTERNAL" } });
    expect(await m(gw, "socketgate_handler_errors_total", { event: "unknown" })).toBe(errs0 + 1);
    expect((await ask(s, "test:reject", {})).ok).toBe(false);
    expect(await m(gw, "socketgate_handler_errors_total", { event: "unknown" })).toBe(errs0 + 2);
    expect(await m(gw, "socketgate_events_total", { event: "unknown", outcome: "error" })).toBe(out0 + 2);
    expect((await ask(s, "presence:get", { room: "r1" })).ok).toBe(true);
  });

  it("a 300 ms handler lands in le=0.5 but not in le=0.25", async () => {
    const s = await connect(gw, "sleeper");
    const le = async (b: string) => m(gw, "socketgate_event_duration_seconds_bucket", { event: "unknown", le: b });
    const [b025, b05, binf] = [await le("0.25"), await le("0.5"), await le("+Inf")];
    expect(await ask(s, "test:slow", { ms: 300 })).toMatchObject({ ok: true, sleptMs: 300 });
    expect(await le("0.25")).toBe(b025);
    expect(await le("0.5")).toBe(b05 + 1);
    expect(await le("+Inf")).toBe(binf + 1);
  });

  it("messages_delivered counts each recipient socket once: room send, direct send, API publish", async () => {
    const [a, b, c] = [await connect(gw, "da"), await connect(gw, "db"), await connect(gw, "dc")];
    const presenceSeen = [0, 0, 0];
    [a, b, c].forEach((s, i) => s.on("presence", () => presenceSeen[i]!++));
    for (const s of [a, b, c]) expect((await ask(s, "room:join", { room: "deliv" })).ok).toBe(true);
    // The joins' presence broadcasts are counted too: start once every member got its online events
    // (da sees 3, db 2, dc 1) and the counter has stopped moving.
    await waitFor("the joins' presence events", async () => presenceSeen.join() === "3,2,1");
    const d0 = await steady(gw, "socketgate_messages_delivered_total");
    // Room send: to the two other members (the sender is excluded).
    const got = Promise.all([b, c].map((s) => new Promise((r) => s.once("message", r))));
    expect((await ask(a, "message:send", { room: "deliv", body: "hi" })).ok).toBe(true);
    await got;
    expect(await m(gw, "socketgate_messages_delivered_total")).toBe(d0 + 2);
    // API publish to the room: all three members.
    const res = await fetch(`${gw.url}/v1/publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ room: "deliv", event: "notice", data: { n: 1 } }),
    });
    expect(res.status).toBe(200);
    expect(await settle(gw, "socketgate_messages_delivered_total", {}, d0 + 5)).toBe(d0 + 5);
    // API publish to two users' rooms at once (a socket in both would still count once): 2 recipients.
    const res2 = await fetch(`${gw.url}/v1/publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ userIds: ["da", "db", "nobody"], event: "notice", data: { n: 2 } }),
    });
    expect(res2.status).toBe(200);
    expect(await settle(gw, "socketgate_messages_delivered_total", {}, d0 + 7)).toBe(d0 + 7);
  });

  it("backend API: every request is counted by route and status, refusals included, with its duration", async () => {
    const text0 = await scrape(gw.opsUrl);
    const api = (text: string, route: string, status: string) => metricValue(text, "socketgate_api_requests_total", { route, status }) ?? Number.NaN;
    const call = (method: string, path: string, init: { key?: string | null; type?: string; body?: string } = {}) =>
      fetch(`${gw.url}${path}`, {
        method,
        headers: {
          ...(init.key === null ? {} : { authorization: `Bearer ${init.key ?? TEST_API_KEY}` }),
          "content-type": init.type ?? "application/json",
        },
        body: init.body,
      }).then(async (r) => (await r.arrayBuffer(), r.status));
    const ok = JSON.stringify({ room: "api-metrics", event: "notice", data: 1 });
    const answers = [
      ["/v1/publish", "200", await call("POST", "/v1/publish", { body: ok })],
      ["/v1/publish", "200", await call("POST", "/v1/publish", { body: ok })],
      ["/v1/publish", "401", await call("POST", "/v1/publish", { key: null, body: ok })],
      ["/v1/publish", "401", await call("POST", "/v1/publish", { key: "wrong-key", body: ok })],
      ["/v1/publish", "400", await call("POST", "/v1/publish", { body: "{not json" })],
      ["/v1/publish", "415", await call("POST", "/v1/publish", { type: "text/plain", body: ok })],
      [
        "/v1/publish",
        "413",
        await call("POST", "/v1/publish", { body: JSON.stringify({ room: "r", event: "e", data: "x".repeat(1_100_000) }) }).catch(() => 413),
      ],
      ["/v1/publish", "405", await call("GET", "/v1/publish")],
      ["/v1/presence/:room", "200", await call("GET", "/v1/presence/api-metrics")],
      ["/v1/disconnect", "400", await call("POST", "/v1/disconnect", { body: JSON.stringify({}) })],
      ["other", "404", await call("GET", "/v1/no-such-route")],
    ] as const;
    for (const [route, status, got] of answers) expect(String(got), `${route} -> ${status}`).toBe(status);
    const text = await scrape(gw.opsUrl);
    const want = new Map<string, number>();
    for (const [route, status] of answers) want.set(`${route} ${status}`, (want.get(`${route} ${status}`) ?? 0) + 1);
    for (const [key, n] of want) {
      const [route, status] = key.split(" ") as [string, string];
      expect(api(text, route, status) - api(text0, route, status), key).toBe(n);
    }
    // Nothing else moved: the sum over every series grew by exactly the requests made.
    const total = (t: string) =>
      t
        .split("\n")
        .filter((l) => l.startsWith("socketgate_api_requests_total{"))
        .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    expect(total(text) - total(text0)).toBe(answers.length);
    const count = (t: string, route: string) => metricValue(t, "socketgate_api_request_duration_seconds_count", { route }) ?? Number.NaN;
    expect(count(text, "/v1/publish") - count(text0, "/v1/publish")).toBe(8);
    expect(count(text, "other") - count(text0, "other")).toBe(1);
  });

  it("label sets stay closed after 1,000 distinct rooms and 1,000 bogus event names", async () => {
    const before = await scrape(gw.opsUrl);
    const series0 = seriesOf(before, "socketgate_").length;
    const s = await connect(gw, "card");
    for (let i = 0; i < 1000; i++) {
      s.emit("room:join", { room: `room-${i}` }, () => {});
      s.emit(`bogus:${i}:${Math.random().toString(36).slice(2)}`, { room: `room-${i}` }, () => {});
    }
    // 2,000 events queued ahead of this one: on a loaded machine they take well over ask's default 5 s.
    expect((await ask(s, "presence:get", { room: "room-999" }, 60_000)).ok).toBe(true);
    const after = await scrape(gw.opsUrl);
    const series = seriesOf(after, "socketgate_");
    expect(series.length).toBe(series0);
    expect(after).not.toMatch(/room-\d+|bogus:/);
    const events = new Set(series.filter((l) => l.startsWith("socketgate_events_total")).map((l) => /event="([^"]*)"/.exec(l)?.[1]));
    expect([...events].sort()).toEqual([
      "auth:refresh",
      "message:ack",
      "message:send",
      "message:unacked",
      "presence:get",
      "room:join",
      "room:leave",
      "typing",
      "unknown",
    ]);
    expect(metricValue(after, "socketgate_events_total", { event: "unknown", outcome: "rejected" })).toBeGreaterThanOrEqual(1000);
  }, 90_000);
});

describe("metrics: draining", () => {
  it("draining goes to 1 at SIGTERM, while /metrics keeps answering", async () => {
    const gw = await startGatewayProcess({ env: { DRAIN_DELAY_MS: "1500", DRAIN_WINDOW_MS: "100" } });
    try {
      expect(await m(gw, "socketgate_draining")).toBe(0);
      gw.signal("SIGTERM");
      expect(await settle(gw, "socketgate_draining", {}, 1)).toBe(1);
      expect(await gw.exited).toBe(0);
    } finally {
      await gw.stop();
    }
  });
});

describe("test fault events", () => {
  it("are refused outside NODE_ENV=test, with a message naming the setting", async () => {
    const gw = await startGatewayProcess({ env: { NODE_ENV: "production", SOCKETGATE_TEST_FAULTS: "1" }, expectFailure: true });
    expect(await gw.exited).toBe(2);
    expect(gw.stderr.join("")).toMatch(/SOCKETGATE_TEST_FAULTS .*only allowed when NODE_ENV=test/);
  });

  it("do not exist unless enabled: test:throw is an unknown event", async () => {
    const gw = await startGatewayProcess();
    try {
      const s = await connect(gw, "plain");
      expect(await ask(s, "test:throw", {})).toMatchObject({ ok: false, error: { code: "UNKNOWN_EVENT" } });
      expect(await m(gw, "socketgate_handler_errors_total", { event: "unknown" })).toBe(0);
    } finally {
      closeAll();
      await gw.stop();
    }
  });
});
