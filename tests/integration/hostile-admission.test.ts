// Attacks on admission, replayed as the attacker sends them, with real socket.io-clients at their
// DEFAULT settings as the victims: forged CONNECT floods in one polling POST, many CONNECTs on one
// WebSocket, and Engine.IO sessions that never authenticate. Legitimate clients must end up connected
// without any application retry code, and bystanders' answers must stay fast.
import { io as ioClient, type Socket as ClientSocket } from "socket.io-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { http, pollingOpen, pollUrl, RawSocket, sleep } from "../support/hardening.js";
import { watchBystander } from "../support/hostile.js";
import { metricValue, scrape } from "../support/metrics.js";
import { signToken } from "../support/tokens.js";

const BYSTANDER_BOUND_MS = 500;
const stock: ClientSocket[] = [];
/** socket.io-client exactly as an application would create it: only the URL and auth (forceNew keeps tests apart). */
const stockClient = (url: string, token: string) => {
  const s = ioClient(url, { auth: { token }, forceNew: true });
  stock.push(s);
  return s;
};
/** Resolves when the socket is connected; records every connect_error on the way. */
const connectsEventually = (s: ClientSocket, timeoutMs: number) =>
  new Promise<{ connected: boolean; errors: number }>((resolve) => {
    let errors = 0;
    s.on("connect_error", () => errors++);
    const timer = setTimeout(() => resolve({ connected: s.connected, errors }), timeoutMs);
    if (s.connected) return (clearTimeout(timer), resolve({ connected: true, errors }));
    s.once("connect", () => (clearTimeout(timer), resolve({ connected: true, errors })));
  });

const gauge = async (gw: GatewayProcess, name: string, labels: Record<string, string> = {}) => metricValue(await scrape(gw.opsUrl), name, labels) ?? 0;
/**
 * Socket.IO handshakes (token checks) started: connection attempts less the second CONNECTs the parser
 * refused before any handshake (each is an attempt of its own, failed as bad_request; nothing else here
 * fails as bad_request).
 */
const handshakesStarted = async (gw: GatewayProcess) => {
  const text = await scrape(gw.opsUrl);
  const attempts = metricValue(text, "socketgate_connection_attempts_total") ?? 0;
  return attempts - (metricValue(text, "socketgate_connection_failures_total", { reason: "bad_request" }) ?? 0);
};

afterEach(() => {
  for (const s of stock.splice(0)) s.close();
});

describe("forged CONNECT floods", () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({ env: { MAX_CONNECTIONS: "20" } });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it("one polling POST of ~6,000 forged CONNECTs reserves nothing: 5 legitimate stock clients all connect, bystanders stay fast", async () => {
    const watch = await watchBystander(gw.url, "calm");
    const handshakesBefore = await handshakesStarted(gw);
    const { sid } = await pollingOpen(gw.url);
    expect(sid).toBeDefined();
    const forged = await signToken("mallory", { rooms: ["*"] }, { secret: "not-the-gateway-secret-0123456789abcdef" });
    const packet = `40${JSON.stringify({ token: forged })}`;
    const count = Math.floor((1024 * 1024 - 1024) / (packet.length + 1));
    const post = http(pollUrl(gw.url, sid!), {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8" },
      body: Array(count).fill(packet).join("\x1e"),
      timeoutMs: 10_000,
    });
    const legit = await Promise.all(Array.from({ length: 5 }, async (_, i) => stockClient(gw.url, await signToken(`legit-${i}`, { rooms: ["*"] }))));
    const drops: string[] = [];
    for (const s of legit) s.on("disconnect", (reason) => drops.push(reason));
    const outcomes = await Promise.all(legit.map((s) => connectsEventually(s, 15_000)));
    const answer = await post;
    const stats = await watch.stop();
    // The session that sent a second CONNECT is closed: its next poll gets the close packet ("1") or no session.
    const poll = await http(pollUrl(gw.url, sid!), { timeoutMs: 3000 });
    const sessionClosed = "error" in poll || poll.status !== 200 || poll.body.split("\x1e").includes("1");
    console.log(
      `[hostile] forged CONNECT flood: packets=${count} post=${"error" in answer ? answer.error : answer.status} legitConnected=${outcomes.filter((o) => o.connected).length}/5 errors=${outcomes.map((o) => o.errors)} bystander=${JSON.stringify(stats)} drops=${JSON.stringify(drops)}`,
    );
    expect(outcomes.every((o) => o.connected)).toBe(true);
    expect(stats.failures).toBe(0);
    expect(stats.slowestMs).toBeLessThan(BYSTANDER_BOUND_MS);
    expect(sessionClosed).toBe(true);
    // Each forged CONNECT used to start its own token check (and hold a capacity slot meanwhile): now the
    // attacker's session starts at most one, besides the five legitimate handshakes.
    const handshakes = (await handshakesStarted(gw)) - handshakesBefore;
    expect(handshakes).toBeLessThanOrEqual(6);
    expect(drops).toEqual([]);
    expect(await gauge(gw, "socketgate_handler_errors_total", { event: "unknown" })).toBe(0);
  });

  it("50 CONNECT packets on one WebSocket give at most one socket, and the session is cut", async () => {
    const handshakesBefore = await handshakesStarted(gw);
    const raw = new RawSocket(gw.url);
    await raw.opened;
    expect(await raw.next((f) => f.startsWith("0"))).toBeDefined();
    const token = await signToken("multi", { rooms: ["*"] });
    for (let i = 0; i < 50; i++) raw.send(`40${JSON.stringify({ token })}`);
    const closed = await raw.waitClosed(5000);
    const connects = raw.frames.filter((f) => f.startsWith("40")).length;
    const handshakes = (await handshakesStarted(gw)) - handshakesBefore;
    console.log(`[hostile] 50 CONNECTs on one WebSocket: socketsAnswered=${connects} handshakesStarted=${handshakes} closed=${JSON.stringify(closed)}`);
    expect(connects).toBeLessThanOrEqual(1);
    // Each CONNECT past the first would start its own token check and socket: the second one cuts the session.
    expect(handshakes).toBeLessThanOrEqual(1);
    expect(closed).toBeDefined();
  });
});

describe("Engine.IO sessions that never authenticate", () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({ env: { MAX_CONNECTIONS: "20", CONNECT_TIMEOUT_MS: "60000" } });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it("count toward MAX_CONNECTIONS: readiness goes 503, new handshakes get HTTP 503 OVER_CAPACITY, and a stock client connects once they go", async () => {
    const idle: RawSocket[] = [];
    for (let i = 0; i < 20; i++) {
      const raw = new RawSocket(gw.url);
      await raw.opened;
      idle.push(raw);
    }
    const ready = await fetch(`${gw.opsUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain("at_capacity");
    const refused = await pollingOpen(gw.url);
    expect(refused.sid).toBeUndefined();
    if ("error" in refused.answer) throw new Error(refused.answer.error);
    expect(refused.answer.status).toBe(503);
    expect(JSON.parse(refused.answer.body)).toMatchObject({ code: "OVER_CAPACITY" });
    const upgrade = new RawSocket(gw.url);
    await expect(upgrade.opened).rejects.toThrow(/HTTP 503/);

    // A stock client arriving now is refused at the transport and retries on its own with backoff.
    const late = stockClient(gw.url, await signToken("late", { rooms: ["*"] }));
    const outcome = connectsEventually(late, 20_000);
    await sleep(1500);
    expect(late.connected).toBe(false);
    for (const raw of idle.splice(0, 5)) raw.close();
    const result = await outcome;
    console.log(`[hostile] idle sessions: late stock client connected=${result.connected} after ${result.errors} refused attempts`);
    expect(result.connected).toBe(true);
    expect(result.errors).toBeGreaterThanOrEqual(1);
    for (const raw of idle) raw.close();
  });
});

describe("retryable refusals reach the stock client as something it retries", () => {
  it("RATE_LIMITED (per-address rate): HTTP 429 on the handshake; the stock client connects once the rate allows", async () => {
    const gw = await startGatewayProcess({ env: { CONN_RATE_PER_ADDRESS_PER_S: "1", CONN_RATE_BURST: "1" } });
    try {
      const first = await pollingOpen(gw.url);
      expect(first.sid).toBeDefined();
      const second = await pollingOpen(gw.url);
      if ("error" in second.answer) throw new Error(second.answer.error);
      expect(second.answer.status).toBe(429);
      expect(JSON.parse(second.answer.body)).toMatchObject({ code: "RATE_LIMITED" });
      const s = stockClient(gw.url, await signToken("patient", { rooms: ["*"] }));
      expect((await connectsEventually(s, 15_000)).connected).toBe(true);
    } finally {
      await gw.stop();
    }
  });
});
