// Connection accounting under hostile and odd first packets, written as the traffic (raw Engine.IO frames
// over WebSocket and long-polling against a real gateway process): each scenario's exact deltas of
// connection_attempts_total and connection_failures_total{reason}, scraped from /metrics. The failure
// ratio alert divides failures by attempts, so every failure needs exactly one attempt and no session
// may count its attempt twice (a CONNECT led by whitespace, which socket.io-parser reads as a CONNECT,
// used to be counted once by admission and again as an abandoned handshake when the server closed it).
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGatewayProcess, TEST_API_KEY, type GatewayProcess } from "../support/gateway-process.js";
import { http, pollingOpen, pollUrl, RawSocket, sleep } from "../support/hardening.js";
import { metricValue, scrape } from "../support/metrics.js";
import { signToken } from "../support/tokens.js";

const MAX_PAYLOAD = 100_000;
const FORGED_SECRET = "not-the-gateway-secret-0123456789abcdef";

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await startGatewayProcess({
    env: { CONNECT_TIMEOUT_MS: "1000", MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD), MAX_BODY_BYTES: "65536", CORS_ORIGINS: "https://app.example" },
  });
});
afterAll(async () => {
  await gw?.stop();
});

interface Ledger {
  attempts: number;
  failures: Record<string, number>;
  sessions: number;
}

async function ledger(): Promise<Ledger> {
  const text = await scrape(gw.opsUrl);
  const failures: Record<string, number> = {};
  for (const m of text.matchAll(/^socketgate_connection_failures_total\{reason="(\w+)"\} (\S+)$/gm)) failures[m[1]!] = Number(m[2]);
  return {
    attempts: metricValue(text, "socketgate_connection_attempts_total") ?? 0,
    failures,
    sessions: metricValue(text, "socketgate_engine_sessions") ?? 0,
  };
}

/**
 * Runs one scenario and returns what it added to the ledger, once the server has closed every
 * Engine.IO session the scenario opened (engine.io's count drops in the same close event the
 * accounting listens to, so nothing is counted after that).
 */
async function deltas(scenario: () => Promise<void>): Promise<{ attempts: number; failures: Record<string, number> }> {
  const before = await ledger();
  await scenario();
  let after = await ledger();
  for (let i = 0; i < 100 && after.sessions > before.sessions; i++) {
    await sleep(100);
    after = await ledger();
  }
  expect(after.sessions, "a session of the scenario is still open").toBe(before.sessions);
  const failures: Record<string, number> = {};
  for (const [reason, value] of Object.entries(after.failures)) {
    const d = value - (before.failures[reason] ?? 0);
    if (d !== 0) failures[reason] = d;
  }
  return { attempts: after.attempts - before.attempts, failures };
}

const validToken = (user: string) => signToken(user, { rooms: ["*"] });
const forgedToken = (user: string) => signToken(user, { rooms: ["*"] }, { secret: FORGED_SECRET });

/** A raw WebSocket session past the Engine.IO open packet. */
async function openWs(): Promise<RawSocket> {
  const raw = new RawSocket(gw.url);
  await raw.opened;
  expect(await raw.next((f) => f.startsWith("0"))).toBeDefined();
  return raw;
}

/** Long-polls a session until the server closes it (close packet "1", or the session is gone). */
async function pollUntilClosed(sid: string): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await http(pollUrl(gw.url, sid), { timeoutMs: 10_000 });
    if ("error" in r || r.status !== 200) return bodies;
    bodies.push(r.body);
    if (r.body.split("\x1e").includes("1")) return bodies;
  }
  throw new Error(`polling session ${sid} was never closed: ${JSON.stringify(bodies)}`);
}

async function post(sid: string, body: string | Buffer): Promise<number | string> {
  const r = await http(pollUrl(gw.url, sid), { method: "POST", headers: { "content-type": "text/plain;charset=UTF-8" }, body });
  return "error" in r ? r.error : r.status;
}

describe("every failure has exactly one attempt, every attempt is counted once", () => {
  it("a CONNECT led by whitespace (a CONNECT to socket.io-parser), kicked later: one attempt, no failure", async () => {
    const d = await deltas(async () => {
      const raw = await openWs();
      raw.send(`4 ${JSON.stringify({ token: await validToken("spacey") })}`);
      expect(await raw.next((f) => f.startsWith("40") || f.startsWith("44"))).toMatch(/^40/);
      const kick = await fetch(`${gw.url}/v1/disconnect`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ userId: "spacey" }),
      });
      expect(kick.status).toBe(200);
      expect(await raw.waitClosed(5000)).toBeDefined();
    });
    expect(d).toEqual({ attempts: 1, failures: {} });
  });

  it("a CONNECT of a single space over polling (no auth), then the connect timeout: one attempt, one auth_required", async () => {
    const d = await deltas(async () => {
      const { sid } = await pollingOpen(gw.url);
      expect(sid).toBeDefined();
      expect(await post(sid!, "4 ")).toBe(200);
      const bodies = await pollUntilClosed(sid!);
      expect(bodies.join("\x1e")).toMatch(/44\{.*AUTH_REQUIRED/);
    });
    expect(d).toEqual({ attempts: 1, failures: { auth_required: 1 } });
  });

  it("a forged token over WebSocket, left open until the connect timeout: one attempt, one auth_invalid", async () => {
    const d = await deltas(async () => {
      const raw = await openWs();
      raw.send(`40${JSON.stringify({ token: await forgedToken("forger") })}`);
      expect(await raw.next((f) => f.startsWith("40") || f.startsWith("44"))).toMatch(/^44/);
      expect(await raw.waitClosed(5000)).toBeDefined();
    });
    expect(d).toEqual({ attempts: 1, failures: { auth_invalid: 1 } });
  });

  it("a second CONNECT after a successful one: two attempts, the second a bad_request", async () => {
    const d = await deltas(async () => {
      const raw = await openWs();
      const token = await validToken("twice");
      raw.send(`40${JSON.stringify({ token })}`);
      expect(await raw.next((f) => f.startsWith("40") || f.startsWith("44"))).toMatch(/^40/);
      raw.send(`40${JSON.stringify({ token })}`);
      expect(await raw.waitClosed(5000)).toBeDefined();
    });
    expect(d).toEqual({ attempts: 2, failures: { bad_request: 1 } });
  });

  it("a second CONNECT after an auth failure (what a client retrying on one session sends): two attempts, two failures", async () => {
    const d = await deltas(async () => {
      const raw = await openWs();
      const token = await forgedToken("again");
      raw.send(`40${JSON.stringify({ token })}`);
      expect(await raw.next((f) => f.startsWith("40") || f.startsWith("44"))).toMatch(/^44/);
      raw.send(`40${JSON.stringify({ token })}`);
      expect(await raw.waitClosed(5000)).toBeDefined();
    });
    expect(d).toEqual({ attempts: 2, failures: { auth_invalid: 1, bad_request: 1 } });
  });

  it("two CONNECTs in one polling POST: two attempts, the second a bad_request", async () => {
    const d = await deltas(async () => {
      const { sid } = await pollingOpen(gw.url);
      const connect = `40${JSON.stringify({ token: await validToken("batch") })}`;
      expect(await post(sid!, `${connect}\x1e${connect}`)).toBe(200);
      await pollUntilClosed(sid!);
    });
    expect(d).toEqual({ attempts: 2, failures: { bad_request: 1 } });
  });

  const badFirstPackets: Array<[string, string]> = [
    ["an event before any CONNECT", '42["room:join",{"room":"x"}]'],
    ["a CONNECT with truncated JSON", '40{"token":'],
    ["a binary event declaring 0 attachments", '450-["message:send",{"room":"x","body":"hi"}]'],
  ];
  for (const [what, frame] of badFirstPackets) {
    it(`${what} as the first packet, over WebSocket: one attempt, one bad_request`, async () => {
      const d = await deltas(async () => {
        const raw = await openWs();
        raw.send(frame);
        expect(await raw.waitClosed(5000)).toBeDefined();
      });
      expect(d).toEqual({ attempts: 1, failures: { bad_request: 1 } });
    });
  }

  it("a CONNECT with truncated JSON as the first packet, over polling: one attempt, one bad_request", async () => {
    const d = await deltas(async () => {
      const { sid } = await pollingOpen(gw.url);
      expect(await post(sid!, '40{"token":')).toBe(200);
      await pollUntilClosed(sid!);
    });
    expect(d).toEqual({ attempts: 1, failures: { bad_request: 1 } });
  });

  it("binary attachments over MAX_BODY_BYTES before any CONNECT: one attempt, one payload_too_large", async () => {
    const d = await deltas(async () => {
      const raw = await openWs();
      raw.send(`452-${JSON.stringify(["upload", { _placeholder: true, num: 0 }, { _placeholder: true, num: 1 }])}`);
      raw.send(Buffer.alloc(40_000, 1));
      raw.send(Buffer.alloc(40_000, 2));
      expect(await raw.waitClosed(5000)).toBeDefined();
    });
    expect(d).toEqual({ attempts: 1, failures: { payload_too_large: 1 } });
  });

  it("a WebSocket frame over MAX_PAYLOAD_BYTES before any CONNECT: one attempt, one payload_too_large", async () => {
    const d = await deltas(async () => {
      const raw = await openWs();
      raw.send(`4${"a".repeat(MAX_PAYLOAD + 10)}`);
      expect(await raw.waitClosed(5000)).toBeDefined();
    });
    expect(d).toEqual({ attempts: 1, failures: { payload_too_large: 1 } });
  });

  it("a polling POST over MAX_PAYLOAD_BYTES before any CONNECT: one attempt, one payload_too_large", async () => {
    const d = await deltas(async () => {
      const { sid } = await pollingOpen(gw.url);
      expect(await post(sid!, `4${"a".repeat(MAX_PAYLOAD + 10)}`)).toBe(413);
    });
    expect(d).toEqual({ attempts: 1, failures: { payload_too_large: 1 } });
  });

  it("a session that never sends CONNECT: one attempt, one handshake_timeout", async () => {
    const d = await deltas(async () => {
      const raw = await openWs();
      expect(await raw.waitClosed(5000)).toBeDefined();
    });
    expect(d).toEqual({ attempts: 1, failures: { handshake_timeout: 1 } });
  });

  it("refusals at the transport level (a WebSocket upgrade asking for polling, an origin not allowed): one attempt and one failure each", async () => {
    const d = await deltas(async () => {
      const upgrade = new WebSocket(`ws://127.0.0.1:${gw.port}/socket.io/?EIO=4&transport=polling`);
      upgrade.on("error", () => {});
      const status = await new Promise<number>((resolve) => {
        upgrade.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        upgrade.once("open", () => resolve(101));
      });
      upgrade.terminate();
      expect(status).toBe(400);
      const cors = await http(`${gw.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: "https://evil.example" } });
      expect("error" in cors ? cors.error : cors.status).toBe(403);
    });
    expect(d).toEqual({ attempts: 2, failures: { transport_error: 1, cors: 1 } });
  });
});
