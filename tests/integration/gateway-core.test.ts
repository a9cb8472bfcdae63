// One real gateway process, real socket.io-clients: transports, every event's happy path and errors.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ask, client, closeAll, connected, nextEvent, refused, settled, sleep } from "../support/clients.js";
import { devicesOf, presenceBarrier } from "../support/presence-barrier.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.js";
import { signToken } from "../support/tokens.js";

let gw: GatewayProcess;
beforeAll(async () => {
  gw = await startGatewayProcess({ env: { PRESENCE_GRACE_MS: "300", MAX_ROOMS_PER_SOCKET: "3", RATE_LIMIT_EVENTS_PER_S: "20", RATE_LIMIT_BURST: "40" } });
});
afterEach(() => closeAll());
afterAll(async () => {
  await gw.stop();
});

const as = async (sub: string, extra: Record<string, unknown> = {}, opts = {}) =>
  connected(client(gw.url, { token: await signToken(sub, extra as never), ...((extra.deviceId ? { deviceId: extra.deviceId } : {}) as object) }, opts));

describe("transports", () => {
  it("connects over WebSocket", async () => {
    const s = await as("ws-user");
    expect(s.io.engine.transport.name).toBe("websocket");
  });

  it("connects over long-polling and upgrades to WebSocket", async () => {
    const s = await as("poll-user", {}, { transports: ["polling", "websocket"] });
    // The server saw the connection start on polling, then the client upgraded.
    expect((await gw.waitForLog((l) => l.msg === "connected" && l.userId === "poll-user")).transport).toBe("polling");
    await new Promise<void>((r) => (s.io.engine.transport.name === "websocket" ? r() : s.io.engine.once("upgrade", () => r())));
    expect(s.io.engine.transport.name).toBe("websocket");
    expect(await ask(s, "presence:get", { room: "r" })).toMatchObject({ ok: true });
  });

  it("works on long-polling only", async () => {
    const s = await as("poll-only", {}, { transports: ["polling"], upgrade: false });
    const r = await ask(s, "room:join", { room: "poll-room" });
    expect(r).toMatchObject({ ok: true, room: "poll-room" });
  });

  it("answers /health on the public port and keeps ops routes off it", async () => {
    expect(await (await fetch(`${gw.url}/health`)).text()).toBe("OK");
    const m = await fetch(`${gw.url}/metrics`);
    expect(m.status).toBe(404);
    expect(await m.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
    expect((await fetch(`${gw.opsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${gw.opsUrl}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${gw.opsUrl}/metrics`)).text()).toContain("socketgate_connections");
  });
});

describe("handshake", () => {
  it("refuses with stable codes", async () => {
    expect((await refused(client(gw.url, {}))).code).toBe("AUTH_REQUIRED");
    expect((await refused(client(gw.url, { token: "garbage" }))).code).toBe("AUTH_INVALID");
    expect((await refused(client(gw.url, { token: await signToken("u", {}, { expiresIn: Math.floor(Date.now() / 1000) - 5 }) }))).code).toBe("AUTH_EXPIRED");
    expect((await refused(client(gw.url, { token: await signToken("u"), deviceId: "bad device id!" }))).code).toBe("BAD_REQUEST");
    expect((await refused(client(gw.url, { token: await signToken("bad user id") }))).code).toBe("AUTH_INVALID");
  });
});

describe("rooms", () => {
  it("joins within the allow-list and refuses outside it", async () => {
    const s = await as("alice", { rooms: ["conv:42", "team:7:*"] });
    expect(await ask(s, "room:join", { room: "conv:42" })).toMatchObject({ ok: true, room: "conv:42", users: [{ userId: "alice", devices: 1 }] });
    expect(await ask(s, "room:join", { room: "team:7:dev" })).toMatchObject({ ok: true });
    expect(await ask(s, "room:join", { room: "conv:43" })).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    expect(await ask(s, "presence:get", { room: "conv:43" })).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
  });

  it("caps rooms per socket", async () => {
    const s = await as("joiner");
    for (const r of ["a1", "a2", "a3"]) expect(await ask(s, "room:join", { room: r })).toMatchObject({ ok: true });
    expect(await ask(s, "room:join", { room: "a4" })).toMatchObject({ ok: false, error: { code: "TOO_MANY_ROOMS" } });
    expect(await ask(s, "room:join", { room: "a1" })).toMatchObject({ ok: true });
    expect(await ask(s, "room:leave", { room: "a1" })).toMatchObject({ ok: true });
    expect(await ask(s, "room:join", { room: "a4" })).toMatchObject({ ok: true });
  });

  it("validates payloads with clear messages", async () => {
    const s = await as("validator");
    expect(await ask(s, "room:join", { room: "" })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    expect(await ask(s, "room:join", { room: "#u:bob" })).toMatchObject({
      ok: false,
      error: { code: "BAD_REQUEST", message: expect.stringContaining("room") },
    });
    expect(await ask(s, "room:join", { room: "x", extra: 1 })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    expect(await ask(s, "room:join", "just a string")).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    expect(await ask(s, "room:join", { room: "x", since: -1 })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    expect(await ask(s, "room:join")).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    expect(await ask(s, "no:such:event", {})).toMatchObject({ ok: false, error: { code: "UNKNOWN_EVENT" } });
  });
});

describe("messages", () => {
  it("fans a room message out to the other members, not the sender, and stores it", async () => {
    const a = await as("ann");
    const b = await as("ben");
    await ask(a, "room:join", { room: "chat" });
    await ask(b, "room:join", { room: "chat" });
    let echoed = false;
    a.on("message", () => (echoed = true));
    const got = nextEvent<Record<string, unknown>>(b, "message");
    const ack = await ask(a, "message:send", { room: "chat", body: { text: "hi" }, clientMsgId: "m1" });
    expect(ack).toMatchObject({ ok: true, id: expect.stringMatching(/^chat:[A-Za-z0-9_-]+:1$/), seq: 1, epoch: expect.any(String), ts: expect.any(Number) });
    expect(await got).toMatchObject({ id: ack.id, seq: 1, epoch: ack.epoch, room: "chat", from: "ann", body: { text: "hi" } });
    const again = await ask(a, "message:send", { room: "chat", body: { text: "hi" }, clientMsgId: "m1" });
    expect(again).toMatchObject({ ok: true, id: ack.id, duplicate: true });
    await sleep(100);
    expect(echoed).toBe(false);
    expect(await ask(b, "room:join", { room: "chat", since: 0 })).toMatchObject({ ok: true, messages: [{ id: ack.id }] });
    expect(await ask(a, "message:send", { room: "elsewhere", body: "x" })).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    expect(await ask(a, "message:send", { room: "chat" })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    expect(await ask(a, "message:send", { room: "chat", to: "ben", body: 1 })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
  });

  it("delivers direct messages to every device and keeps them per device until acknowledged", async () => {
    const phone = await as("dora", { deviceId: "phone" });
    const laptop = await as("dora", { deviceId: "laptop" });
    const sender = await as("sam");
    const p = nextEvent<{ id: string }>(phone, "message");
    const l = nextEvent<{ id: string }>(laptop, "message");
    const ack = await ask<{ ok: boolean; id: string }>(sender, "message:send", { to: "dora", body: "psst" });
    expect(ack.ok).toBe(true);
    expect((await p).id).toBe(ack.id);
    expect((await l).id).toBe(ack.id);
    expect(await ask(phone, "message:unacked", {})).toMatchObject({ ok: true, messages: [{ id: ack.id, from: "sam", to: "dora", body: "psst" }] });
    expect(await ask(phone, "message:ack", { ids: [ack.id] })).toMatchObject({ ok: true, acked: 1 });
    expect(await ask(phone, "message:unacked", {})).toMatchObject({ ok: true, messages: [] });
    expect(await ask(laptop, "message:unacked", {})).toMatchObject({ ok: true, messages: [{ id: ack.id }] });
    expect(await ask(phone, "message:ack", { ids: [] })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    expect(await ask(phone, "message:ack", { ids: "x" })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    expect(await ask(sender, "message:send", { to: "not a user", body: 1 })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
  });

  it("relays typing to the other members only", async () => {
    const a = await as("tina");
    const b = await as("tom");
    await ask(a, "room:join", { room: "t" });
    await ask(b, "room:join", { room: "t" });
    const senderSaw: unknown[] = [];
    a.on("typing", (e) => senderSaw.push(e));
    const got = nextEvent(b, "typing");
    expect(await ask(a, "typing", { room: "t", isTyping: true })).toMatchObject({ ok: true });
    expect(await got).toEqual({ room: "t", userId: "tina", isTyping: true });
    // The sender is excluded: a round trip on the sender's own connection, ordered after the relay,
    // proves anything sent to it has arrived by now.
    expect(await ask(a, "presence:get", { room: "t" })).toMatchObject({ ok: true });
    expect(senderSaw).toEqual([]);
    expect(await ask(a, "typing", { room: "nope", isTyping: true })).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    expect(await ask(a, "typing", { room: "t", isTyping: "yes" })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
  });
});

describe("presence", () => {
  it("is multi-device: online once, offline only after the last device leaves plus the grace", async () => {
    const watcher = await as("watcher");
    await ask(watcher, "room:join", { room: "p" });
    const events: Array<{ userId: string; status: string }> = [];
    watcher.on("presence", (e) => events.push(e));
    const d1 = await as("multi", { deviceId: "d1" });
    const d2 = await as("multi", { deviceId: "d2" });
    await ask(d1, "room:join", { room: "p" });
    await ask(d2, "room:join", { room: "p" });
    expect(await ask(watcher, "presence:get", { room: "p" })).toMatchObject({ users: expect.arrayContaining([{ userId: "multi", devices: 2 }]) });
    d1.close();
    // The gateway saw d1 leave, then the barrier: an offline scheduled by that leave would have arrived by now.
    await devicesOf(watcher, "p", "multi", 1);
    await presenceBarrier(gw.url, "p", [watcher]);
    expect(events.filter((e) => e.userId === "multi")).toEqual([{ room: "p", userId: "multi", status: "online" }]);
    d2.close();
    await settled("multi's offline", () => events.filter((e) => e.userId === "multi").length >= 2);
    expect(events.filter((e) => e.userId === "multi")).toEqual([
      { room: "p", userId: "multi", status: "online" },
      { room: "p", userId: "multi", status: "offline" },
    ]);
    expect(await ask(watcher, "presence:get", { room: "p" })).toMatchObject({ users: [{ userId: "watcher", devices: 1 }] });
  });

  it("does not flap on a rapid reconnect inside the grace period", async () => {
    const watcher = await as("watcher2");
    await ask(watcher, "room:join", { room: "flap" });
    const events: Array<{ userId: string; status: string }> = [];
    watcher.on("presence", (e) => events.push(e));
    const first = await as("flapper");
    await ask(first, "room:join", { room: "flap" });
    first.close();
    const second = await as("flapper");
    await ask(second, "room:join", { room: "flap" });
    // The first socket's leave was seen (one device left), then the barrier: its grace timer has run.
    await devicesOf(watcher, "flap", "flapper", 1);
    await presenceBarrier(gw.url, "flap", [watcher]);
    expect(events.filter((e) => e.userId === "flapper").map((e) => e.status)).toEqual(["online"]);
  });
});

describe("rate limiting", () => {
  it("answers RATE_LIMITED past the burst and keeps the socket", async () => {
    const s = await as("flooder");
    const answers = await Promise.all(Array.from({ length: 80 }, () => ask<{ ok: boolean; error?: { code: string } }>(s, "presence:get", { room: "r" })));
    const limited = answers.filter((a) => a.error?.code === "RATE_LIMITED").length;
    expect(limited).toBeGreaterThan(20);
    expect(answers.filter((a) => a.ok).length).toBeGreaterThanOrEqual(40);
    await sleep(1100);
    expect(await ask(s, "presence:get", { room: "r" })).toMatchObject({ ok: true });
    expect(s.connected).toBe(true);
  });
});

describe("events without an ack", () => {
  it("reports errors through gateway:error", async () => {
    const s = await as("noack");
    const err = nextEvent(s, "gateway:error");
    s.emit("room:join", { room: "" });
    expect(await err).toMatchObject({ code: "BAD_REQUEST" });
  });
});
