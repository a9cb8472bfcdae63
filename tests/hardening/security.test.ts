// Security checks: JWT algorithm confusion, alg none, expiry and nbf, foreign keys; API keys never
// logged (their comparison is tests/unit/api-keys.test.ts); CORS on polling and WebSocket upgrades; no internals in error
// answers; the ops endpoints are not served on the public listener.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ask, client, closeAll, connected } from "../support/clients.js";
import { startGatewayProcess, TEST_SECRET, type GatewayProcess } from "../support/gateway-process.js";
import { signToken, TEST_API_KEY } from "../support/tokens.js";
import { assertNoLeak, badLogs, http, metricsSnapshot, pollingOpen, RawSocket } from "../support/hardening.js";

const ALLOWED = "http://allowed.example";
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

/** CONNECT with `auth.token = token` over a raw socket: "ok" or the refusal code. */
async function outcome(gw: GatewayProcess, token: unknown): Promise<string> {
  const raw = new RawSocket(gw.url);
  try {
    const answer = await raw.handshake({ token });
    if (!answer) return "no answer";
    if (answer.startsWith("40")) return "ok";
    const body = JSON.parse(answer.slice(2)) as { data: { code: string; message: string } };
    assertNoLeak(answer, "connect_error");
    return body.data.code;
  } finally {
    raw.close();
  }
}

afterAll(() => closeAll());

describe("JWT with an HS256 secret", () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({ env: { LOG_LEVEL: "trace" } });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it("admits a valid token and refuses none, foreign keys, other HMAC algorithms, expired and not-yet-valid tokens", async () => {
    const delta = await metricsSnapshot(gw);
    const secret = new TextEncoder().encode(TEST_SECRET);
    const claims = { sub: "alice", exp: now() + 600 };
    expect(await outcome(gw, await signToken("alice"))).toBe("ok");
    expect(await outcome(gw, `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`)).toBe("AUTH_INVALID");
    expect(await outcome(gw, `${b64({ alg: "NONE" })}.${b64(claims)}.`)).toBe("AUTH_INVALID");
    expect(await outcome(gw, await signToken("alice", {}, { secret: "another-secret-0123456789-0123456789-xyz" }))).toBe("AUTH_INVALID");
    expect(await outcome(gw, await new SignJWT({}).setProtectedHeader({ alg: "HS512" }).setSubject("alice").setExpirationTime("1h").sign(secret))).toBe(
      "AUTH_INVALID",
    );
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    expect(await outcome(gw, await new SignJWT({}).setProtectedHeader({ alg: "RS256" }).setSubject("alice").setExpirationTime("1h").sign(privateKey))).toBe(
      "AUTH_INVALID",
    );
    expect(
      await outcome(
        gw,
        await new SignJWT({})
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("alice")
          .setExpirationTime(now() - 30)
          .sign(secret),
      ),
    ).toBe("AUTH_EXPIRED");
    expect(
      await outcome(
        gw,
        await new SignJWT({})
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("alice")
          .setNotBefore(now() + 600)
          .setExpirationTime("2h")
          .sign(secret),
      ),
    ).toBe("AUTH_INVALID");
    // A token without exp never expires: refused.
    expect(await outcome(gw, await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").sign(secret))).toBe("AUTH_INVALID");
    // A valid signature over claims with a hostile subject.
    expect(await outcome(gw, await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("#u:bob").setExpirationTime("1h").sign(secret))).toBe(
      "AUTH_INVALID",
    );
    expect(await delta("socketgate_connection_failures_total", { reason: "auth_invalid" })).toBe(8);
    expect(await delta("socketgate_connection_failures_total", { reason: "auth_expired" })).toBe(1);
  });

  it("never writes the secret, API keys or tokens to the logs, even at trace level", async () => {
    const token = await signToken("carol");
    const s = await connected(client(gw.url, { token }));
    expect((await ask(s, "room:join", { room: "sec:a" })).ok).toBe(true);
    s.close();
    await outcome(gw, token + "tampered");
    for (const authorization of [`Bearer ${TEST_API_KEY}`, `Bearer ${TEST_API_KEY}x`, TEST_API_KEY]) {
      await http(`${gw.url}/v1/publish`, {
        method: "POST",
        headers: { authorization, "content-type": "application/json" },
        body: JSON.stringify({ room: "sec:a", event: "e", data: 1 }),
      });
    }
    await new Promise((r) => setTimeout(r, 300));
    const everything = [...gw.logs.map((l) => JSON.stringify(l)), ...gw.stderr].join("\n");
    expect(gw.logs.length).toBeGreaterThan(5);
    for (const secret of [TEST_SECRET, TEST_API_KEY, token, token.split(".")[2]!])
      expect(everything.includes(secret), `leaked ${secret.slice(0, 12)}...`).toBe(false);
  });
});

describe("JWT with an RS256 public key", () => {
  let gw: GatewayProcess;
  let keys: { publicKey: string; privateKey: string };
  beforeAll(async () => {
    keys = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    const dir = mkdtempSync(join(tmpdir(), "sg-sec-"));
    writeFileSync(join(dir, "pub.pem"), keys.publicKey);
    gw = await startGatewayProcess({ env: { JWT_SECRET: undefined, JWT_PUBLIC_KEY_FILE: join(dir, "pub.pem") } });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it("refuses algorithm confusion (HS256 signed with the public key), none, and other keys", async () => {
    const { createPrivateKey, createSecretKey } = await import("node:crypto");
    const priv = createPrivateKey(keys.privateKey);
    const good = await new SignJWT({}).setProtectedHeader({ alg: "RS256" }).setSubject("dave").setExpirationTime("1h").sign(priv);
    expect(await outcome(gw, good)).toBe("ok");
    // The classic confusion: the attacker knows the public key and uses its PEM text as an HMAC secret.
    const confused = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("dave")
      .setExpirationTime("1h")
      .sign(createSecretKey(Buffer.from(keys.publicKey)));
    expect(await outcome(gw, confused)).toBe("AUTH_INVALID");
    expect(await outcome(gw, `${b64({ alg: "none" })}.${b64({ sub: "dave", exp: now() + 600 })}.`)).toBe("AUTH_INVALID");
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    expect(await outcome(gw, await new SignJWT({}).setProtectedHeader({ alg: "RS256" }).setSubject("dave").setExpirationTime("1h").sign(other))).toBe(
      "AUTH_INVALID",
    );
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    expect(await outcome(gw, await new SignJWT({}).setProtectedHeader({ alg: "ES256" }).setSubject("dave").setExpirationTime("1h").sign(ec))).toBe(
      "AUTH_INVALID",
    );
    // Same key, weaker-looking header tricks: a jwk or kid pointing elsewhere changes nothing.
    const [, p, sig] = good.split(".");
    expect(await outcome(gw, `${b64({ alg: "RS256", kid: "../../dev/null", jku: "http://evil.example/jwks" })}.${p}.${sig}`)).toBe("AUTH_INVALID");
    expect(
      await outcome(
        gw,
        await new SignJWT({})
          .setProtectedHeader({ alg: "RS256" })
          .setSubject("dave")
          .setExpirationTime(now() - 5)
          .sign(priv),
      ),
    ).toBe("AUTH_EXPIRED");
  });
});

describe("CORS allow-list on polling and WebSocket upgrades", () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({ env: { CORS_ORIGINS: ALLOWED } });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  const upgrade = (origin?: string) =>
    new Promise<string>((resolve) => {
      const ws = new WebSocket(`${gw.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`, { headers: origin ? { origin } : {} });
      ws.on("open", () => (ws.terminate(), resolve("open")));
      ws.on("unexpected-response", (_q, res) => (resolve(`http ${res.statusCode}`), ws.terminate()));
      ws.on("error", (e) => resolve(`error ${e.message}`));
    });

  it("refuses other origins (counted once, as cors) and admits allowed, same-origin and origin-less clients", async () => {
    const delta = await metricsSnapshot(gw);
    const evil = await pollingOpen(gw.url, { origin: "http://evil.example" });
    expect(evil.sid).toBeUndefined();
    expect("error" in evil.answer ? evil.answer.error : evil.answer.status).toBe(403);
    expect(await upgrade("http://evil.example")).toBe("http 403");
    expect(await upgrade("null")).toBe("http 403");
    expect(await upgrade("http://allowed.example.evil.example")).toBe("http 403");

    const ok = await pollingOpen(gw.url, { origin: ALLOWED });
    expect(ok.sid).toBeDefined();
    expect(!("error" in ok.answer) && ok.answer.headers["access-control-allow-origin"]).toBe(ALLOWED);
    expect(await upgrade(ALLOWED)).toBe("open");
    expect(await upgrade(`http://127.0.0.1:${gw.port}`)).toBe("open"); // same origin
    expect(await upgrade()).toBe("open"); // not a browser

    const pre = await http(`${gw.url}/socket.io/?EIO=4&transport=polling`, {
      method: "OPTIONS",
      headers: { origin: "http://evil.example", "access-control-request-method": "POST" },
    });
    expect(!("error" in pre) && pre.headers["access-control-allow-origin"]).not.toBe("http://evil.example");

    expect(await delta("socketgate_connection_failures_total", { reason: "cors" })).toBe(4);
    expect(await delta("socketgate_connection_failures_total", { reason: "transport_error" })).toBe(0);
  });
});

describe("drain", () => {
  it("refuses new sessions at the transport level (retryable by socket.io-client), even over a kept-alive connection", async () => {
    const gw = await startGatewayProcess({ env: { DRAIN_DELAY_MS: "3000", DRAIN_WINDOW_MS: "200" } });
    try {
      const delta = await metricsSnapshot(gw);
      const { Agent, request } = await import("node:http");
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const get = () =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request(`${gw.url}/socket.io/?EIO=4&transport=polling`, { agent }, (res) => {
            let body = "";
            res.on("data", (c: Buffer) => (body += c.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on("error", reject);
          req.end();
        });
      expect((await get()).status).toBe(200);
      gw.signal("SIGTERM");
      await gw.waitForLog((l) => /draining/.test(l.msg));
      const refused = await get(); // same kept-alive TCP connection, listener still open during the delay
      // 503 + Retry-After: "try again", which socket.io-client does with backoff (a 403 means the same to it, not to proxies).
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.body)).toMatchObject({ code: "DRAINING", message: expect.stringMatching(/^DRAINING: /) });
      expect(await delta("socketgate_connection_failures_total", { reason: "draining" })).toBe(1);
      agent.destroy();
      expect(await gw.exited).toBe(0);
    } finally {
      await gw.stop();
    }
  });
});

describe("answers and listeners", () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({ env: { SOCKETGATE_TEST_FAULTS: "1", HANDLER_ERROR_BUDGET: "100" } });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it("answers handler crashes with a generic INTERNAL error: no stack, no internal message", async () => {
    const s = await connected(client(gw.url, { token: await signToken("erin") }));
    for (const ev of ["test:throw", "test:reject"]) {
      const a = await ask<{ ok: boolean; error: { code: string; message: string } }>(s, ev, {});
      expect(a.ok).toBe(false);
      expect(a.error.code).toBe("INTERNAL");
      expect(a.error.message).not.toContain("injected");
      assertNoLeak(JSON.stringify(a), ev);
    }
    const errors: unknown[] = [];
    s.on("gateway:error", (e) => errors.push(e));
    s.emit("test:throw", {});
    await new Promise((r) => setTimeout(r, 300));
    expect(JSON.stringify(errors)).not.toContain("injected");
    expect(s.connected).toBe(true);
    s.close();
  });

  it("keeps internals out of API, 404 and engine.io error answers", async () => {
    const answers = await Promise.all([
      http(`${gw.url}/v1/publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
        body: "{not json",
      }),
      http(`${gw.url}/v1/publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
        body: '{"room":"a","event":"x","data":{"a":1},"__proto__":{"polluted":1}}',
      }),
      http(`${gw.url}/v1/presence/%E0%A4%A`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } }),
      http(`${gw.url}/../../etc/passwd`),
      http(`${gw.url}/socket.io/?EIO=4&transport=polling&sid=nope`),
      http(`${gw.url}/socket.io/?EIO=9&transport=polling`),
    ]);
    for (const a of answers) {
      expect("error" in a ? a.error : "answered").toBe("answered");
      if ("error" in a) continue;
      expect(a.status).toBeGreaterThanOrEqual(400);
      expect(a.status).toBeLessThan(500);
      assertNoLeak(a.body, `HTTP ${a.status}`);
      expect(JSON.stringify(a.headers)).not.toMatch(/x-powered-by|express/i);
    }
  });

  it("refuses a WebSocket upgrade that asks for transport=polling (engine.io raised an unhandled rejection per request)", async () => {
    const delta = await metricsSnapshot(gw);
    for (const transport of ["polling", "", "xyz"]) {
      const status = await new Promise<string>((resolve) => {
        const ws = new WebSocket(`${gw.url.replace("http", "ws")}/socket.io/?EIO=4&transport=${transport}`);
        ws.on("open", () => (ws.terminate(), resolve("open")));
        ws.on("unexpected-response", (_q, res) => (resolve(`http ${res.statusCode}`), ws.terminate()));
        ws.on("error", (e) => resolve(`error ${e.message}`));
      });
      expect(status, transport).toBe("http 400");
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(await delta("socketgate_process_errors_total", { kind: "unhandledRejection" })).toBe(0);
  });

  it("does not serve the ops endpoints on the public listener, nor the public ones on the ops port", async () => {
    for (const path of ["/metrics", "/healthz", "/readyz"]) {
      const pub = await http(`${gw.url}${path}`);
      expect("error" in pub ? pub.error : pub.status, path).toBe(404);
      expect("error" in pub ? "" : pub.body).not.toContain("socketgate_");
      const ops = await http(`${gw.opsUrl}${path}`);
      expect("error" in ops ? ops.error : ops.status, path).toBe(200);
    }
    for (const path of ["/socket.io/?EIO=4&transport=polling", "/v1/presence/a", "/health", "/demo"]) {
      const ops = await http(`${gw.opsUrl}${path}`);
      expect("error" in ops ? ops.error : ops.status, path).toBe(404);
    }
    // DEMO is off: no demo page and no client bundle.
    for (const path of ["/demo", "/socket.io/socket.io.js"]) {
      const pub = await http(`${gw.url}${path}`);
      expect("error" in pub ? pub.error : pub.status, path).not.toBe(200);
    }
    // The injected faults above are logged as "handler failed" (with their stack, in the log only); nothing else.
    expect(gw.logs.filter((l) => (l.level === "error" || l.level === "fatal") && l.msg !== "handler failed").map((l) => l.msg)).toEqual([]);
    expect(badLogs(gw).length).toBe(gw.logs.filter((l) => l.msg === "handler failed").length);
  });
});
