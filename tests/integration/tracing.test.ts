// OpenTelemetry traces from real gateway processes, received by an in-process OTLP/HTTP (JSON)
// collector: handshake, event and API spans, error status, log correlation, and one trace across
// pods (publish on pod A -> delivery on pod B through Redis).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, nextEvent } from "../support/clients.js";
import { startGatewayProcess, TEST_API_KEY, type GatewayProcess } from "../support/gateway-process.js";
import { startRedis, stopAllRedis, type RedisNode } from "../support/redis-harness.js";
import { signToken } from "../support/tokens.js";
import { OtlpReceiver } from "../support/otlp-receiver.js";

const randomHex = (bytes: number) => Buffer.from(Array.from({ length: bytes }, () => Math.floor(Math.random() * 256))).toString("hex");
const newTraceparent = () => {
  const traceId = randomHex(16);
  const spanId = randomHex(8);
  return { traceId, spanId, header: `00-${traceId}-${spanId}-01` };
};
const ERROR = 2;

describe("tracing on one pod", () => {
  const rx = new OtlpReceiver();
  let gw: GatewayProcess;
  beforeAll(async () => {
    await rx.start();
    gw = await startGatewayProcess({ env: rx.env({ SOCKETGATE_TEST_FAULTS: "1" }) });
  });
  afterEach(() => closeAll());
  afterAll(async () => {
    await gw?.stop();
    await rx.close();
  });

  it("logs that tracing is on, with the exporter it uses", async () => {
    const line = await gw.waitForLog((l) => l.msg === "tracing on");
    expect(String(line.tracing)).toContain("protocol=http/json");
  });

  it("the handshake span continues auth.traceparent", async () => {
    const tp = newTraceparent();
    await connected(client(gw.url, { token: await signToken("h1"), traceparent: tp.header }));
    const span = await rx.waitFor((s) => s.traceId === tp.traceId && s.name === "socketio handshake", "handshake");
    expect(span.parentSpanId).toBe(tp.spanId);
    expect(span.kind).toBe(2); // SERVER
    expect(span.status.code ?? 0).not.toBe(ERROR);
  });

  it("a refused handshake is an error span with the failure reason", async () => {
    const tp = newTraceparent();
    client(gw.url, { token: "not-a-jwt", traceparent: tp.header });
    const span = await rx.waitFor((s) => s.traceId === tp.traceId && s.name === "socketio handshake", "refused handshake");
    expect(span.status.code).toBe(ERROR);
    expect(span.attributes["socketgate.failure_reason"]).toBe("auth_invalid");
  });

  it("an event's envelope traceparent is its parent, and is stripped before the strict schema", async () => {
    const s = await connected(client(gw.url, { token: await signToken("e1", { rooms: ["*"] }) }));
    const tp = newTraceparent();
    expect(await ask(s, "room:join", { room: "traced", traceparent: tp.header })).toMatchObject({ ok: true });
    const span = await rx.waitFor((x) => x.traceId === tp.traceId && x.name === "event room:join", "event span");
    expect(span.parentSpanId).toBe(tp.spanId);
    expect(span.attributes["socketgate.outcome"]).toBe("ok");
  });

  it("embedded mode: a room message is delivered under a deliver span, child of the sending event's span", async () => {
    const sender = await connected(client(gw.url, { token: await signToken("d-send", { rooms: ["*"] }) }));
    const reader = await connected(client(gw.url, { token: await signToken("d-read", { rooms: ["*"] }) }));
    for (const s of [sender, reader]) expect(await ask(s, "room:join", { room: "traced-local" })).toMatchObject({ ok: true });
    const tp = newTraceparent();
    expect(await ask(sender, "message:send", { room: "traced-local", body: "t", traceparent: tp.header })).toMatchObject({ ok: true });
    const event = await rx.waitFor((x) => x.traceId === tp.traceId && x.name === "event message:send", "event span");
    // Before the trace stamp landed on the in-memory adapter itself, embedded mode never produced this span.
    const deliver = await rx.waitFor((x) => x.traceId === tp.traceId && x.name === "deliver", "deliver span");
    expect(deliver.parentSpanId).toBe(event.spanId);
    expect(deliver.attributes["socketgate.recipients"]).toBe(1);
  });

  it("a throwing handler gives an error span, and its log line carries the trace and span ids", async () => {
    const s = await connected(client(gw.url, { token: await signToken("e2") }));
    const tp = newTraceparent();
    expect((await ask(s, "test:throw", { traceparent: tp.header })).ok).toBe(false);
    const span = await rx.waitFor((x) => x.traceId === tp.traceId && x.name === "event unknown", "failed event span");
    expect(span.status.code).toBe(ERROR);
    expect(span.attributes["socketgate.error_code"]).toBe("INTERNAL");
    const log = await gw.waitForLog((l) => l.msg === "handler failed" && l.trace_id === tp.traceId);
    expect(log.span_id).toBe(span.spanId);
  });

  it("an event without traceparent starts its own trace (sampler parentbased_always_on by default)", async () => {
    const s = await connected(client(gw.url, { token: await signToken("e3") }));
    const before = rx.spans.filter((x) => x.name === "event presence:get").length;
    expect((await ask(s, "presence:get", { room: "nobody-here" })).ok).toBe(true);
    const span = await rx.waitFor(
      (x) => x.name === "event presence:get" && rx.spans.filter((y) => y.name === "event presence:get").length > before,
      "root event span",
    );
    // Its own trace: a root span (no parent), not a child of the connection's or anyone else's span.
    expect(span.parentSpanId ?? "").toBe("");
  });

  it("an API call is a span continuing the traceparent header; a refused one is an error span", async () => {
    const tp = newTraceparent();
    const res = await fetch(`${gw.url}/v1/presence/traced`, { headers: { authorization: `Bearer ${TEST_API_KEY}`, traceparent: tp.header } });
    expect(res.status).toBe(200);
    const span = await rx.waitFor((x) => x.traceId === tp.traceId && x.name === "GET /v1/presence/:room", "api span");
    expect(span.parentSpanId).toBe(tp.spanId);
    expect(span.attributes["http.response.status_code"]).toBe(200);

    const bad = newTraceparent();
    const refused = await fetch(`${gw.url}/v1/publish`, {
      method: "POST",
      headers: { authorization: "Bearer wrong-key-0123456789", "content-type": "application/json", traceparent: bad.header },
      body: "{}",
    });
    expect(refused.status).toBe(401);
    const badSpan = await rx.waitFor((x) => x.traceId === bad.traceId && x.name === "POST /v1/publish", "refused api span");
    expect(badSpan.status.code).toBe(ERROR);
  });
});

describe("tracing off", () => {
  it("no exporter configured: tracing off, and an envelope traceparent is still accepted", async () => {
    const gw = await startGatewayProcess();
    try {
      const line = await gw.waitForLog((l) => l.msg === "tracing off");
      expect(String(line.tracing)).toContain("off");
      const s = await connected(client(gw.url, { token: await signToken("off", { rooms: ["*"] }), traceparent: newTraceparent().header }));
      expect(await ask(s, "room:join", { room: "x", traceparent: newTraceparent().header })).toMatchObject({ ok: true });
      expect(gw.logs.some((l) => "trace_id" in l)).toBe(false);
    } finally {
      closeAll();
      await gw.stop();
    }
  });

  it("a bad OTEL_TRACES_SAMPLER stops start-up naming the variable", async () => {
    const gw = await startGatewayProcess({ env: { OTEL_TRACES_SAMPLER: "sometimes" }, expectFailure: true });
    expect(await gw.exited).toBe(2);
    expect(gw.stderr.join("")).toMatch(/OTEL_TRACES_SAMPLER = "sometimes": expected one of/);
  });
});

describe("one trace across pods", () => {
  const rx = new OtlpReceiver();
  let redis: RedisNode;
  let a: GatewayProcess;
  let b: GatewayProcess;
  beforeAll(async () => {
    await rx.start();
    redis = await startRedis("tracing");
    a = await startGatewayProcess({ env: rx.env({ REDIS_URL: redis.url }) });
    b = await startGatewayProcess({ env: rx.env({ REDIS_URL: redis.url }) });
  });
  afterAll(async () => {
    closeAll();
    await Promise.all([a?.stop(), b?.stop()]);
    await stopAllRedis();
    await rx.close();
  });

  it("publish via the API on pod A -> deliver span on pod B, same trace id, parent = the API span", async () => {
    const s = await connected(client(b.url, { token: await signToken("listener", { rooms: ["news"] }) }));
    expect((await ask(s, "room:join", { room: "news" })).ok).toBe(true);
    const tp = newTraceparent();
    const got = nextEvent<Record<string, unknown>>(s, "headline", 10_000);
    const res = await fetch(`${a.url}/v1/publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json", traceparent: tp.header },
      body: JSON.stringify({ room: "news", event: "headline", data: { title: "traced" } }),
    });
    expect(res.status).toBe(200);
    // The client sees the data as published: the trace context rides on the adapter packet, not in the payload.
    expect(await got).toEqual({ title: "traced" });

    const api = await rx.waitFor((x) => x.traceId === tp.traceId && x.name === "POST /v1/publish", "publish span on A");
    expect(api.pid).toBe(a.child.pid);
    expect(api.parentSpanId).toBe(tp.spanId);
    const deliver = await rx.waitFor((x) => x.traceId === tp.traceId && x.name === "deliver" && x.pid === b.child.pid, "deliver span on B");
    expect(deliver.parentSpanId).toBe(api.spanId);
    expect(deliver.kind).toBe(5); // CONSUMER
    expect(deliver.attributes["socketgate.recipients"]).toBe(1);
    expect(deliver.attributes["socketgate.emitted_event"]).toBe("headline");
    // Pod A has no member of the room: no delivery span there.
    expect(rx.spans.some((x) => x.traceId === tp.traceId && x.name === "deliver" && x.pid === a.child.pid)).toBe(false);
  });

  it("a client event on pod A fans out to pod B in the same trace (message:send -> deliver)", async () => {
    const sender = await connected(client(a.url, { token: await signToken("sender", { rooms: ["chat"] }) }));
    const receiver = await connected(client(b.url, { token: await signToken("receiver", { rooms: ["chat"] }) }));
    for (const s of [sender, receiver]) expect((await ask(s, "room:join", { room: "chat" })).ok).toBe(true);
    const tp = newTraceparent();
    const got = nextEvent<Record<string, unknown>>(receiver, "message", 10_000);
    expect((await ask(sender, "message:send", { room: "chat", body: "hello", traceparent: tp.header })).ok).toBe(true);
    const msg = await got;
    expect(msg.body).toBe("hello");
    expect(msg).not.toHaveProperty("traceparent");
    const event = await rx.waitFor((x) => x.traceId === tp.traceId && x.name === "event message:send", "event span on A");
    expect(event.pid).toBe(a.child.pid);
    const deliver = await rx.waitFor((x) => x.traceId === tp.traceId && x.name === "deliver" && x.pid === b.child.pid, "deliver span on B");
    expect(deliver.parentSpanId).toBe(event.spanId);
  });
});
