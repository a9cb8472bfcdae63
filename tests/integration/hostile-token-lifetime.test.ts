// "Authorisation fails open" over time, replayed: a socket kept sending after its token expired, and a kicked
// user simply reconnected with the token they already had. Real gateway processes, real socket.io-client.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, nextEvent, refused, sleep, type Client } from "../support/clients.js";
import { startGateways } from "../support/gateway-cluster.js";
import { startGatewayProcess, TEST_API_KEY, type GatewayProcess } from "../support/gateway-process.js";
import { metricValue, scrape } from "../support/metrics.js";
import { handlerErrorsTotal } from "../support/hostile.js";
import { startRedis, stopAllRedis, type RedisNode } from "../support/redis-harness.js";
import { signToken } from "../support/tokens.js";

const GRACE_MS = 1500;
/** Generous for a shared 2-core machine: the bystander's answers while the attacker keeps sending. */
const BYSTANDER_BOUND_MS = 500;
const nowS = () => Math.floor(Date.now() / 1000);

type Answer = { ok: boolean; error?: { code: string; message: string }; [k: string]: unknown };

/** Connects `sub` with a token that expires `inS` seconds from now (exp has whole seconds: at least inS - 1). */
async function shortLived(url: string, sub: string, inS: number, rooms = ["*"]): Promise<{ socket: Client; expMs: number }> {
  const exp = nowS() + inS;
  const socket = await connected(client(url, { token: await signToken(sub, { rooms }, { expiresIn: exp }) }));
  return { socket, expMs: exp * 1000 };
}

describe("expired socket keeps sending", () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({ env: { TOKEN_REFRESH_GRACE_MS: String(GRACE_MS), JWT_CLOCK_TOLERANCE_S: "0" } });
  });
  afterAll(async () => {
    closeAll();
    await gw?.stop();
  });

  it("after exp every event answers AUTH_EXPIRED and nothing is stored; after the grace the socket is closed; bystanders unaffected", async () => {
    const room = "life:expire";
    const bystander = await connected(client(gw.url, { token: await signToken("life-bystander") }));
    expect((await ask(bystander, "room:join", { room })).ok).toBe(true);
    const seen: unknown[] = [];
    bystander.on("message", (m) => seen.push(m));
    const errorsBefore = await handlerErrorsTotal(gw);

    const { socket: attacker, expMs } = await shortLived(gw.url, "life-attacker", 2);
    expect((await ask(attacker, "room:join", { room })).ok).toBe(true);
    expect(await ask(attacker, "message:send", { room, body: "while valid" })).toMatchObject({ ok: true, seq: 1 });
    const notices: Array<{ code: string; message: string }> = [];
    attacker.on("gateway:error", (e: { code: string; message: string }) => notices.push(e));
    const closed = new Promise<{ reason: string; atMs: number }>((r) => attacker.once("disconnect", (reason) => r({ reason, atMs: Date.now() })));

    // The attack: keep sending after exp, as fast as the rate limit allows, until the gateway closes the socket.
    while (Date.now() < expMs + 100) await sleep(50);
    const answers: Answer[] = [];
    let lastAcceptedAtMs = 0;
    const slowest = { ms: 0 };
    while (attacker.connected && answers.length < 400) {
      const a = await ask<Answer>(attacker, "message:send", { room, body: `after exp ${answers.length}` }, 2000).catch(() => undefined);
      if (!a) break;
      answers.push(a);
      if (a.ok) lastAcceptedAtMs = Date.now();
      if (answers.length % 10 === 0) {
        const started = performance.now();
        expect((await ask(bystander, "presence:get", { room })).ok).toBe(true);
        slowest.ms = Math.max(slowest.ms, performance.now() - started);
      }
      await sleep(20);
    }
    const { reason, atMs } = await closed;
    console.log(
      `[hostile] expired socket: ${answers.length} sends after exp, ${answers.filter((a) => a.ok).length} accepted` +
        ` (last accepted ${lastAcceptedAtMs ? lastAcceptedAtMs - expMs : "-"} ms after exp); closed ${atMs - expMs} ms after exp (${reason}); bystander slowest ${Math.round(slowest.ms)} ms`,
    );
    expect(answers.length).toBeGreaterThan(5);
    for (const a of answers) expect(a).toMatchObject({ ok: false, error: { code: "AUTH_EXPIRED" } });
    // Told first (a notice at expiry, then the reason right before the close), then a server-side disconnect, which socket.io-client does not retry.
    expect(notices.map((n) => n.code)).toEqual(["AUTH_EXPIRED", "AUTH_EXPIRED"]);
    expect(reason).toBe("io server disconnect");
    expect(atMs - expMs).toBeGreaterThanOrEqual(GRACE_MS - 100);
    expect(atMs - expMs).toBeLessThan(GRACE_MS + 2000);
    expect(attacker.active).toBe(false);

    // Nothing the attacker sent after exp was stored or delivered.
    const history = await ask<{ messages: Array<{ body: unknown }> }>(bystander, "room:join", { room, since: 0 });
    expect(history.messages.map((m) => m.body)).toEqual(["while valid"]);
    expect(seen).toHaveLength(1);
    expect(bystander.connected).toBe(true);
    expect(slowest.ms).toBeLessThan(BYSTANDER_BOUND_MS);
    expect(await handlerErrorsTotal(gw)).toBe(errorsBefore);
    const text = await scrape(gw.opsUrl);
    expect(metricValue(text, "socketgate_token_expired_disconnects_total")).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, "socketgate_events_total", { event: "message:send", outcome: "rejected" })).toBeGreaterThanOrEqual(answers.length);
  });

  it("auth:refresh before the grace ends keeps the socket: same sub only, the new exp holds, rooms the new token drops are left", async () => {
    const { socket, expMs } = await shortLived(gw.url, "life-refresher", 2);
    for (const room of ["keep:1", "drop:1"]) expect((await ask(socket, "room:join", { room })).ok).toBe(true);
    const notice = nextEvent<{ code: string }>(socket, "gateway:error", 5000);
    expect((await notice).code).toBe("AUTH_EXPIRED");
    expect(Date.now()).toBeGreaterThanOrEqual(expMs);
    expect(await ask(socket, "presence:get", { room: "keep:1" })).toMatchObject({ ok: false, error: { code: "AUTH_EXPIRED" } });

    // Another user's token, an expired token and garbage are refused; the socket keeps its (expired) token.
    expect(await ask(socket, "auth:refresh", { token: await signToken("someone-else") })).toMatchObject({ ok: false, error: { code: "AUTH_INVALID" } });
    expect(await ask(socket, "auth:refresh", { token: await signToken("life-refresher", {}, { expiresIn: nowS() - 10 }) })).toMatchObject({
      ok: false,
      error: { code: "AUTH_EXPIRED" },
    });
    expect(await ask(socket, "auth:refresh", { token: "not.a.jwt" })).toMatchObject({ ok: false, error: { code: "AUTH_INVALID" } });
    expect(await ask(socket, "auth:refresh", {})).toMatchObject({ ok: false, error: { code: "AUTH_REQUIRED" } });
    expect(await ask(socket, "presence:get", { room: "keep:1" })).toMatchObject({ ok: false, error: { code: "AUTH_EXPIRED" } });

    const exp = nowS() + 3600;
    const refreshed = await ask<Answer>(socket, "auth:refresh", { token: await signToken("life-refresher", { rooms: ["keep:*"] }, { expiresIn: exp }) });
    expect(refreshed).toEqual({ ok: true, expiresAt: exp * 1000, left: ["drop:1"] });
    expect(await ask(socket, "presence:get", { room: "keep:1" })).toMatchObject({ ok: true });
    expect(await ask(socket, "message:send", { room: "drop:1", body: "x" })).toMatchObject({ ok: false });
    expect(await ask(socket, "room:join", { room: "drop:1" })).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });

    // auth:refresh is rate-limited like every event (a token check per event is not free): a flood is cut at the burst.
    const flood = await Promise.all(Array.from({ length: 150 }, () => ask<Answer>(socket, "auth:refresh", { token: "x.y.z" }, 10_000)));
    const codes = new Set(flood.map((a) => a.error?.code));
    expect(codes).toEqual(new Set(["AUTH_INVALID", "RATE_LIMITED"]));
    expect(flood.filter((a) => a.error?.code === "RATE_LIMITED").length).toBeGreaterThanOrEqual(40);

    // Well past the first token's grace: still connected, still working.
    await sleep(GRACE_MS + 700);
    expect(socket.connected).toBe(true);
    expect(await ask(socket, "message:send", { room: "keep:1", body: "still here" })).toMatchObject({ ok: true });
  });
});

describe("kicked user reconnects", () => {
  let redis: RedisNode;
  let pods: GatewayProcess[];
  beforeAll(async () => {
    redis = await startRedis("hostile-kick");
    pods = await startGateways(2, { REDIS_URL: redis.url });
  }, 60_000);
  afterAll(async () => {
    closeAll();
    await Promise.all((pods ?? []).map((p) => p.stop()));
    await stopAllRedis();
  });

  const kick = (pod: GatewayProcess, userId: string) =>
    fetch(`${pod.url}/v1/disconnect`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ userId }),
    });

  it("a kick through pod A refuses the user's older tokens on pod B (AUTH_INVALID); a token issued after the kick works", async () => {
    const [a, b] = pods as [GatewayProcess, GatewayProcess];
    const user = "kick-victim";
    // Issued a while ago, still valid for an hour: what the user's device holds.
    const oldToken = await signToken(user, {}, { issuedAt: nowS() - 60 });
    const noIat = await signToken(user, {}, { issuedAt: null });
    const onA = await connected(client(a.url, { token: oldToken }));
    const onB = await connected(client(b.url, { token: oldToken }));
    const bystander = await connected(client(b.url, { token: await signToken("kick-bystander") }));
    const gone = [onA, onB].map((s) => new Promise<string>((r) => s.once("disconnect", r)));

    const res = await kick(a, user);
    expect(res.status).toBe(200);
    expect(await Promise.all(gone)).toEqual(["io server disconnect", "io server disconnect"]);

    // The attack: reconnect with the token already held, on the other pod and on the same one.
    for (const pod of [b, a]) {
      const refusal = await refused(client(pod.url, { token: oldToken }));
      expect(refusal).toMatchObject({ code: "AUTH_INVALID", message: expect.stringContaining("revoked") });
      expect((await refused(client(pod.url, { token: noIat }))).code).toBe("AUTH_INVALID");
    }
    expect(bystander.connected).toBe(true);
    expect((await ask(bystander, "presence:get", { room: "anything" })).ok).toBe(true);

    // A token issued right after the kick connects at once (the usual re-authentication), and cannot be refreshed back to an old token.
    const fresh = await connected(client(b.url, { token: await signToken(user) }));
    expect(await ask(fresh, "auth:refresh", { token: oldToken })).toMatchObject({ ok: false, error: { code: "AUTH_INVALID" } });
    expect(await ask(fresh, "auth:refresh", { token: await signToken(user) })).toMatchObject({ ok: true });
    expect((await ask(fresh, "room:join", { room: "after-kick" })).ok).toBe(true);
  });

  it("while Redis cannot answer: handshakes are refused as retryable (never admitted unchecked), a kick answers 503 but still cuts the sockets it reaches", async () => {
    const [a] = pods as [GatewayProcess];
    const victim = await connected(client(a.url, { token: await signToken("kick-in-outage") }));
    const victimGone = new Promise<string>((r) => victim.once("disconnect", r));
    redis.pause();
    let s: Client | undefined;
    try {
      // The kick record cannot be stored: 503 UNAVAILABLE (the backend retries), the socket on this pod is cut anyway.
      const res = await kick(a, "kick-in-outage");
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ error: { code: "UNAVAILABLE" } });
      expect(await victimGone).toBe("io server disconnect");
      // Default reconnection settings of socket.io-client (only the delay shortened for the test).
      s = client(a.url, { token: await signToken("kick-during-outage") }, { reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 1000 });
      const firstOutcome = await new Promise<string>((r) => {
        s!.once("connect", () => r("connected"));
        s!.once("connect_error", (e: Error & { data?: { code: string } }) => r(`connect_error ${e.data?.code ?? e.message}`));
        s!.once("disconnect", (reason) => r(`disconnect ${reason}`));
      });
      // UNAVAILABLE closes the transport instead of a final CONNECT_ERROR: socket.io-client retries it with backoff.
      expect(firstOutcome).toBe("disconnect transport close");
      expect(s.active).toBe(true);
    } finally {
      redis.resume();
    }
    await connected(s, 15_000);
  }, 30_000);
});
