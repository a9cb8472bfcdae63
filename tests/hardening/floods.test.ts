// Floods and abuse: connection floods from one address, event floods, join floods, huge payloads,
// slow-loris requests, half-open polling sessions and idle sockets that never authenticate.
// Each is refused clearly, counted by reason, and bystander sockets lose nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected } from "../support/clients.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";
import { signToken, TEST_API_KEY } from "../support/tokens.js";
import { waitFor } from "../support/redis-harness.js";
import { badLogs, healthy, http, metricsSnapshot, pollingOpen, pollUrl, RawSocket, sleep, startBystanders, tcp, tcpClosed } from "../support/hardening.js";

const MAX_PAYLOAD = 65536;
/** Per-socket event bucket of the main gateway. */
const EVENT_RATE = 20;
const EVENT_BURST = 40;
/** Per-address connection bucket of the rate-limited gateway. */
const CONN_RATE = 2;
const CONN_BURST = 5;
/** About 1 GB: the largest Content-Length uWS parses (it drops longer ones without an answer). */
const DECLARED = 999_999_999;
let gw: GatewayProcess;
let token: string;
let calm: Awaited<ReturnType<typeof startBystanders>>;

beforeAll(async () => {
  gw = await startGatewayProcess({
    env: {
      RATE_LIMIT_EVENTS_PER_S: String(EVENT_RATE),
      RATE_LIMIT_BURST: String(EVENT_BURST),
      MAX_ROOMS_PER_SOCKET: "5",
      MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD),
      CONNECT_TIMEOUT_MS: "1500",
      PING_INTERVAL_MS: "1000",
      PING_TIMEOUT_MS: "1000",
    },
  });
  token = await signToken("flooder");
  calm = await startBystanders(gw, 100);
});

afterAll(async () => {
  closeAll();
  await gw?.stop();
});

describe("connection flood from one address", () => {
  let limited: GatewayProcess;
  beforeAll(async () => {
    limited = await startGatewayProcess({
      env: { CONN_RATE_PER_ADDRESS_PER_S: String(CONN_RATE), CONN_RATE_BURST: String(CONN_BURST), TRUST_PROXY_HOPS: "1" },
    });
  });
  afterAll(async () => {
    await limited?.stop();
  });

  const handshakeFrom = async (address: string) => {
    const raw = new RawSocket(limited.url, { headers: { "x-forwarded-for": address } });
    // A refused upgrade is an HTTP status ("HTTP 429"), not a Socket.IO answer: socket.io-client retries it.
    const answer = await raw.handshake({ token }).catch((err: Error) => /HTTP \d+/.exec(err.message)?.[0] ?? err.message);
    raw.close();
    return answer;
  };

  it("admits the burst, refuses the rest with RATE_LIMITED, counts them, and spares other addresses", async () => {
    const delta = await metricsSnapshot(limited);
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 30 }, () => handshakeFrom("203.0.113.7")));
    const elapsedS = (performance.now() - started) / 1000;
    const admitted = answers.filter((a) => a?.startsWith("40")).length;
    const refusals = answers.filter((a) => a === "HTTP 429");
    expect(admitted + refusals.length).toBe(30);
    // A token bucket admits its burst, plus what it refilled while the flood lasted: every admission
    // happened between `started` and the last answer, so a slow run raises the bound with the refill.
    expect(admitted).toBeGreaterThanOrEqual(CONN_BURST);
    expect(admitted, `admitted in ${elapsedS.toFixed(2)} s`).toBeLessThanOrEqual(CONN_BURST + Math.floor(CONN_RATE * elapsedS));
    // Polling handshakes are refused the same way, with the code in the body.
    const polls = await Promise.all(
      Array.from({ length: 5 }, () => http(`${limited.url}/socket.io/?EIO=4&transport=polling`, { headers: { "x-forwarded-for": "203.0.113.7" } })),
    );
    const limitedPolls = polls.filter((p) => !("error" in p) && p.status === 429);
    expect(limitedPolls.length).toBeGreaterThanOrEqual(3);
    for (const p of limitedPolls)
      expect(JSON.parse((p as { body: string }).body)).toMatchObject({
        code: "RATE_LIMITED",
        message: expect.stringMatching(/too many connections from this address/),
      });
    expect(await delta("socketgate_connection_failures_total", { reason: "rate_limited" })).toBe(refusals.length + limitedPolls.length);

    // Another address is not affected by the flood.
    const other = await Promise.all(Array.from({ length: 5 }, () => handshakeFrom("198.51.100.9")));
    expect(other.every((a) => a?.startsWith("40"))).toBe(true);

    // The flooding address gets tokens back at the configured rate.
    await sleep(1200);
    expect((await handshakeFrom("203.0.113.7"))?.startsWith("40")).toBe(true);
    expect(await healthy(limited)).toBe(true);
  });
});

describe("event flood", () => {
  it("answers RATE_LIMITED past the burst, counts each, and serves the socket again once it slows down", async () => {
    const s = await connected(client(gw.url, { token }));
    const delta = await metricsSnapshot(gw);
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 300 }, () => ask<{ ok: boolean; error?: { code: string } }>(s, "presence:get", { room: "flood:a" }, 15_000)),
    );
    const elapsedS = (performance.now() - started) / 1000;
    const ok = answers.filter((a) => a.ok).length;
    const limited = answers.filter((a) => a.error?.code === "RATE_LIMITED").length;
    expect(ok + limited).toBe(300);
    // The socket's bucket: its burst, plus the refill over the time the flood took to be answered.
    expect(ok).toBeGreaterThanOrEqual(EVENT_BURST);
    expect(ok, `answered ok in ${elapsedS.toFixed(2)} s`).toBeLessThanOrEqual(EVENT_BURST + Math.floor(EVENT_RATE * elapsedS));
    expect(await delta("socketgate_events_total", { event: "presence:get", outcome: "rate_limited" })).toBe(limited);
    // Events without an ack callback are refused through gateway:error.
    const errors: Array<{ code: string }> = [];
    s.on("gateway:error", (e: { code: string }) => errors.push(e));
    for (let i = 0; i < 50; i++) s.emit("presence:get", { room: "flood:a" });
    await waitFor("gateway:error answers", async () => errors.length > 0);
    expect(errors.every((e) => e.code === "RATE_LIMITED")).toBe(true);
    await sleep(2500);
    expect((await ask(s, "presence:get", { room: "flood:a" })).ok).toBe(true);
    expect(s.connected).toBe(true);
    s.close();
  });

  it("survives a burst of 5000 raw frames on one socket", async () => {
    const raw = new RawSocket(gw.url);
    expect((await raw.handshake({ token }))?.startsWith("40")).toBe(true);
    for (let i = 0; i < 5000; i++) raw.send(`42${i}["presence:get",{"room":"flood:b"}]`);
    const last = await raw.next((f) => f.startsWith("434999["), 20_000);
    expect(last ?? raw.closed, "neither answered nor closed").toBeDefined();
    raw.close();
    expect(await healthy(gw)).toBe(true);
  });
});

describe("join flood", () => {
  it("caps rooms per socket with TOO_MANY_ROOMS and counts the refusals", async () => {
    const s = await connected(client(gw.url, { token }));
    const delta = await metricsSnapshot(gw);
    const answers: Array<{ ok: boolean; error?: { code: string } }> = [];
    for (let i = 0; i < 20; i++) answers.push(await ask(s, "room:join", { room: `jf:${i}` }));
    expect(answers.filter((a) => a.ok).length).toBe(5);
    expect(answers.slice(5).every((a) => a.error?.code === "TOO_MANY_ROOMS")).toBe(true);
    expect(await delta("socketgate_events_total", { event: "room:join", outcome: "rejected" })).toBe(15);
    expect((await ask(s, "room:join", { room: "jf:0" })).ok).toBe(true); // already joined: not a new room
    expect((await ask(s, "room:leave", { room: "jf:0" })).ok).toBe(true);
    expect((await ask(s, "room:join", { room: "jf:new" })).ok).toBe(true);
    s.close();
  });
});

describe("huge payloads", () => {
  it("cuts a WebSocket that sends a frame over MAX_PAYLOAD_BYTES and counts it", async () => {
    const delta = await metricsSnapshot(gw);
    const raw = new RawSocket(gw.url);
    expect((await raw.handshake({ token }))?.startsWith("40")).toBe(true);
    raw.send(`42["message:send",{"room":"x","body":"${"a".repeat(MAX_PAYLOAD * 2)}"}]`);
    const closed = await raw.waitClosed(5000);
    // uWS cuts the TCP connection (1006 at the client) as soon as the frame header announces too much.
    expect([1006, 1009]).toContain(closed?.code);
    await sleep(200);
    expect(await delta("socketgate_connection_failures_total", { reason: "payload_too_large" })).toBe(1);
  });

  it("refuses a WebSocket frame declaring 1 GiB from its header alone, before any body is sent", async () => {
    const delta = await metricsSnapshot(gw);
    const s = await tcp(gw.port);
    const done = tcpClosed(s, 5000);
    s.write(
      `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await sleep(300);
    // FIN + text opcode, MASK + 127 => 64-bit length of 1 GiB, then the 4-byte mask; no payload follows.
    const header = Buffer.alloc(14);
    header[0] = 0x81;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(1n << 30n, 2);
    s.write(header);
    const result = await done;
    expect(result, "the server kept the connection open waiting for 1 GiB").toBeDefined();
    expect(result!.data).toContain("101 Switching Protocols");
    s.destroy();
    await sleep(200);
    expect(await delta("socketgate_connection_failures_total", { reason: "payload_too_large" })).toBe(1);
  });

  it("answers 413 to a polling POST declaring a body over the limit, without reading it, and counts it", async () => {
    const delta = await metricsSnapshot(gw);
    const { sid } = await pollingOpen(gw.url);
    expect(sid).toBeDefined();
    const s = await tcp(gw.port);
    const done = tcpClosed(s, 5000);
    s.write(
      `POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${DECLARED}\r\n\r\n`,
    );
    await sleep(500);
    s.destroy();
    const result = await done;
    expect(result?.data ?? "").toMatch(/^HTTP\/1\.1 413/);
    await sleep(200);
    expect(await delta("socketgate_connection_failures_total", { reason: "payload_too_large" })).toBe(1);
  });

  it("answers the backend API with 413 JSON for declared and for streamed oversized bodies", async () => {
    const s = await tcp(gw.port);
    const done = tcpClosed(s, 5000);
    s.write(
      `POST /v1/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TEST_API_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${DECLARED}\r\n\r\n`,
    );
    const declared = await done;
    expect(declared?.data ?? "").toMatch(/^HTTP\/1\.1 413[\s\S]*"PAYLOAD_TOO_LARGE"/);

    const chunked = await tcp(gw.port);
    const done2 = tcpClosed(chunked, 10_000);
    chunked.write(
      `POST /v1/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TEST_API_KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    const piece = "x".repeat(16 * 1024);
    let sentBytes = 0;
    for (let i = 0; i < 64 && !chunked.destroyed && !chunked.writableEnded; i++) {
      chunked.write(`${piece.length.toString(16)}\r\n${piece}\r\n`);
      sentBytes += piece.length;
      await sleep(5);
    }
    const streamed = await done2;
    expect(streamed?.data ?? "").toMatch(/^HTTP\/1\.1 413[\s\S]*"PAYLOAD_TOO_LARGE"/);
    chunked.destroy();
    expect(sentBytes).toBeGreaterThan(MAX_PAYLOAD);
  });
});

describe("slow and idle peers", () => {
  it("times out slow-loris requests on the public and ops ports while others are served", { timeout: 45_000 }, async () => {
    const trickle = async (port: number, head: string) => {
      const s = await tcp(port);
      const closed = tcpClosed(s, 35_000);
      s.write(head);
      const timer = setInterval(() => {
        if (!s.destroyed) s.write("X-Slow: a\r\n".slice(0, 1));
      }, 400);
      const result = await closed;
      clearInterval(timer);
      s.destroy();
      return result;
    };
    const started = Date.now();
    const lorises = [
      ...Array.from({ length: 20 }, () => trickle(gw.port, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n")),
      ...Array.from({ length: 5 }, () => trickle(gw.port, `POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_API_KEY}\r\n`)),
      ...Array.from({ length: 5 }, () => trickle(gw.opsPort, "GET /metrics HTTP/1.1\r\nHost: x\r\n")),
    ];
    // Meanwhile normal work goes on.
    await sleep(1000);
    expect(await healthy(gw)).toBe(true);
    const s = await connected(client(gw.url, { token }));
    expect((await ask(s, "presence:get", { room: "loris" })).ok).toBe(true);
    s.close();
    const results = await Promise.all(lorises);
    const span = (from: number, to: number) => {
      const t = results.slice(from, to).map((r) => r?.afterMs ?? Infinity);
      return `${Math.min(...t)}-${Math.max(...t)} ms`;
    };
    console.log(`[hardening] slow-loris closed after: polling ${span(0, 20)}, API ${span(20, 25)}, ops ${span(25, 30)} (${Date.now() - started} ms total)`);
    expect(
      results.every((r) => r !== undefined),
      "a slow-loris connection was never closed",
    ).toBe(true);
  });

  it("closes half-open polling sessions (no more polls) after the heartbeat and counts the unauthenticated ones", async () => {
    const delta = await metricsSnapshot(gw);
    const before = metricValue(await scrape(gw.opsUrl), "socketgate_connections", { transport: "polling" }) ?? 0;
    // One session that authenticated and then went silent, one that never sent CONNECT.
    const authed = await pollingOpen(gw.url);
    const post = await http(pollUrl(gw.url, authed.sid!), {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8" },
      body: `40${JSON.stringify({ token })}`,
    });
    expect("error" in post ? post.error : post.status).toBe(200);
    const first = await http(pollUrl(gw.url, authed.sid!), { timeoutMs: 3000 });
    expect("error" in first ? first.error : first.body).toMatch(/^40/);
    const silent = await pollingOpen(gw.url);
    await sleep(600);
    expect(metricValue(await scrape(gw.opsUrl), "socketgate_connections", { transport: "polling" })).toBe(before + 1);
    await sleep(4000);
    for (const sid of [authed.sid!, silent.sid!]) {
      const r = await http(pollUrl(gw.url, sid), { timeoutMs: 3000 });
      expect("error" in r ? r.error : r.body).toContain("Session ID unknown");
    }
    expect(metricValue(await scrape(gw.opsUrl), "socketgate_connections", { transport: "polling" })).toBe(before);
    expect(await delta("socketgate_connection_failures_total", { reason: "handshake_timeout" })).toBe(1);
  });

  it("closes many idle WebSockets that never authenticate after CONNECT_TIMEOUT_MS and counts them", async () => {
    const delta = await metricsSnapshot(gw);
    const idle = Array.from({ length: 40 }, () => new RawSocket(gw.url));
    await Promise.all(idle.map((r) => r.opened));
    const closed = await Promise.all(idle.map((r) => r.waitClosed(8000)));
    expect(
      closed.every((c) => c !== undefined),
      "an unauthenticated socket outlived the connect timeout",
    ).toBe(true);
    await sleep(200);
    expect(await delta("socketgate_connection_failures_total", { reason: "handshake_timeout" })).toBe(40);
  });
});

describe("after the abuse", () => {
  it("the bystanders lost nothing and the process logged no errors", async () => {
    const r = await calm.stop();
    expect(r.lost, JSON.stringify(r)).toBe(0);
    expect(r.failures).toBe(0);
    expect(r.disconnects).toEqual([]);
    expect(await healthy(gw)).toBe(true);
    const text = await scrape(gw.opsUrl);
    expect(metricValue(text, "socketgate_process_errors_total", { kind: "uncaughtException" })).toBe(0);
    expect(metricValue(text, "socketgate_process_errors_total", { kind: "unhandledRejection" })).toBe(0);
    expect(badLogs(gw)).toEqual([]);
  });
});
